"""Replay a recorded decision: same stored inputs and model version, same outputs.

The record holds the request, every value the model and the policy read, the as-of times
and the model version; ``evaluate`` is deterministic, so a replay must reproduce the
stored outputs and explanation exactly (compared as they read back from the log). A
difference is listed path by path, e.g. after a policy change (the record names the
policy version it was decided under).
"""

from collections.abc import Iterator
from typing import Final

from pydantic import JsonValue, ValidationError

from jifen.errors import DataContractError
from serving.core.evaluation import canonical, evaluate
from serving.core.features import AssembledInputs
from serving.core.model import ModelSlot
from serving.core.scoring import DecisionService
from serving.responses import Difference, ReplayResult
from serving.schemas import ScoreRequest, StoredRecord

_MAX_DIFFERENCES: Final = 100


def differences(stored: JsonValue, replayed: JsonValue, path: str = "") -> Iterator[Difference]:
    """Yield every leaf where ``replayed`` differs from ``stored``."""
    if isinstance(stored, dict) and isinstance(replayed, dict):
        for key in sorted(set(stored) | set(replayed)):
            yield from differences(stored.get(key), replayed.get(key), f"{path}/{key}")
    elif isinstance(stored, list) and isinstance(replayed, list) and len(stored) == len(replayed):
        for i, (a, b) in enumerate(zip(stored, replayed, strict=True)):
            yield from differences(a, b, f"{path}/{i}")
    elif stored != replayed or type(stored) is not type(replayed):
        yield Difference(path=path or "/", stored=stored, replayed=replayed)


def _dict(value: JsonValue, what: str) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise DataContractError(f"the stored record's {what} is not an object")
    return value


def replay(record: StoredRecord, slot: ModelSlot, service: DecisionService) -> ReplayResult:
    """Re-score ``record`` from its stored inputs with its stored model version.

    Raises:
        ModelVersionNotFoundError: the recorded model version cannot be loaded any more.
        DataContractError: the stored request or inputs no longer parse.

    """
    model = slot.version(record.model_version)
    try:
        request = ScoreRequest.model_validate(record.inputs["request"])
    except (KeyError, ValidationError) as exc:
        raise DataContractError(
            f"the stored request of {record.decision_id} does not parse: {exc}"
        ) from exc
    values = _dict(record.inputs.get("values"), "inputs.values")
    sources = {k: str(v) for k, v in _dict(record.inputs.get("sources"), "inputs.sources").items()}
    per_direction = record.inputs.get("reasons_per_direction", service.per_direction)
    inputs = AssembledInputs(dict(values), dict(record.feature_as_of), sources)
    evaluation = evaluate(
        model,
        service.policy,
        service.writer,
        [request.application],
        [inputs],
        per_direction if isinstance(per_direction, int) else service.per_direction,
    )[0]
    replayed = canonical({"outputs": evaluation.outputs, "explanation": evaluation.explanation})
    stored: JsonValue = {"outputs": record.outputs, "explanation": record.explanation}
    diffs = list(differences(stored, replayed))
    recorded_policy = record.inputs.get("policy_version")
    return ReplayResult(
        decision_id=record.decision_id,
        identical=not diffs,
        model_version=model.model_version,
        policy_version_recorded=recorded_policy if isinstance(recorded_policy, str) else None,
        policy_version_now=service.policy.policy_version,
        differences=diffs[:_MAX_DIFFERENCES],
        replayed=_dict(replayed, "replay"),
    )
