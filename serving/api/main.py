"""The versioned API: every router mounted under ``/v1`` by ``serving.main``."""

from fastapi import APIRouter

from serving.api.routes import decisions, model, reports, score

api_router = APIRouter()
api_router.include_router(score.router)
api_router.include_router(decisions.router)
api_router.include_router(model.router)
api_router.include_router(reports.router)
