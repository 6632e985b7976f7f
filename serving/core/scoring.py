"""Score applications end to end: feature store → evaluation → audit record → result.

``DecisionService.score`` runs the labelled steps for a block of applications (one for
``/v1/score``, many for a batch): fetch the firms' vectors in one read per view, assemble
each application's inputs, evaluate the block (``serving.core.evaluation``), commit every
decision's record in one transaction, and only then build the results. A store that
cannot be read or a record that does not commit stops the whole block: no decision
leaves the service unrecorded.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from anyio import to_thread
from pydantic import JsonValue

from jifen.errors import JifenError
from serving.core.audit import PreparedDraft, new_decision_id, prepare_draft
from serving.core.bundle import UNRECORDED, ServedModel
from serving.core.committer import AuditCommitter
from serving.core.evaluation import Evaluation, JsonDict, evaluate
from serving.core.features import AssembledInputs, FeatureSource, InputNeeds, assemble_inputs
from serving.core.metrics import Metrics
from serving.core.policy import Policy
from serving.core.reasons import ReasonWriter
from serving.errors import AuditWriteError, BundleRejectedError
from serving.schemas import Caller, DecisionDraft, ScoreRequest, StoredRecord, utc_iso

log = logging.getLogger(__name__)


def result_json(
    record: StoredRecord,
    request: ScoreRequest,
    evaluation: Evaluation,
    model: ServedModel,
    as_of: Mapping[str, datetime],
    server_ms: float,
) -> JsonDict:
    """Build the public result (``ScoreResult`` as JSON) of a recorded evaluation."""
    explanation = evaluation.explanation
    return {
        "decision_id": record.decision_id,
        "request_id": request.request_id,
        **evaluation.outputs,
        "reasons": explanation["reasons"],
        "explanation": {
            "base_value": explanation["base_value"],
            "contributions": explanation["contributions"],
            "points_line": explanation["points_line"],
        },
        "model_version": model.model_version,
        "catalogue_version": record.catalogue_version,
        "policy_version": record.inputs["policy_version"],
        "feature_as_of": {group: utc_iso(t) for group, t in as_of.items()},
        "scored_at": utc_iso(record.recorded_at),
        "server_ms": server_ms,
    }


@dataclass(frozen=True)
class Prepared:
    """A block evaluated and drafted, waiting for its audit commit."""

    outcomes: list[JsonDict | JifenError]
    """Per request: an error, or an empty placeholder for its result."""
    ready: list[tuple[int, ScoreRequest, AssembledInputs]]
    evaluations: list[Evaluation]
    drafts: list[PreparedDraft]
    """Each decision's draft, its part of the audit body already written."""


@dataclass
class DecisionService:
    """Scores applications end to end: feature store, model, policy, audit log."""

    source: FeatureSource
    policy: Policy
    writer: ReasonWriter
    committer: AuditCommitter
    metrics: Metrics
    per_direction: int
    application_names: frozenset[str]
    catalogue: str
    """Indicator catalogue the served points are computed with (the feature set's rule)."""
    _needs: dict[str, InputNeeds] = field(default_factory=dict)

    def check_model(self, model: ServedModel) -> None:
        """Refuse a model the served points or the policy do not fit.

        Raises:
            BundleRejectedError: the model blends points of another catalogue than the
                store serves, or a grade of its master scale has no limit factor.

        """
        trained_on = model.catalogue_version
        if model.points_column and trained_on not in (UNRECORDED, self.catalogue):
            raise BundleRejectedError(
                f"bundle {model.model_version} blends points of catalogue {trained_on!r}; the "
                f"feature store serves points of catalogue {self.catalogue!r}"
            )
        factors = self.policy.limit.grade_factors
        missing = [g for g in model.bundle.scale.names if g not in factors]
        if missing:
            raise BundleRejectedError(
                f"policy {self.policy.policy_version} has no limit.grade_factors for grades "
                f"{missing} of master scale {model.bundle.scale.scale_version} "
                f"(bundle {model.model_version})"
            )

    def needs(self, model: ServedModel) -> InputNeeds:
        """Return what the model and the policy read, for the inline-feature rules."""
        found = self._needs.get(model.model_version)
        if found is None:
            prefix = self.policy.points.indicator_prefix
            optional = self.policy.fields() | {
                n for n in self.source.group_of if prefix and n.startswith(prefix)
            }
            if model.points_column:
                optional |= {model.points_column}
            found = InputNeeds(model.feature_order, frozenset(optional), self.application_names)
            self._needs[model.model_version] = found
        return found

    async def score(
        self,
        model: ServedModel,
        requests: Sequence[ScoreRequest],
        caller: Caller,
        received: float,
    ) -> list[JsonDict | JifenError]:
        """Score ``requests`` and record every scored one, all in one unit, before returning.

        The store read and the arithmetic run in a worker thread, except for one
        application on a local store, which runs on the event loop; the wait for the audit
        commit runs on the event loop, so no thread is held while the disk syncs.

        Args:
            model: the model taken from the slot when the request arrived.
            requests: the applications, in order.
            caller: who asked (recorded by key id).
            received: ``time.perf_counter()`` at receipt, for ``server_ms``.

        Returns:
            Per request, in order: its result (``ScoreResult`` as JSON), or the error (unknown
            firm, inline features not allowed, inputs missing) that kept it from a score.

        Raises:
            FeatureStoreUnavailableError: the store cannot be read (nothing is scored).
            AuditWriteError: the records did not commit (no decision is returned).

        """
        inline = self.source.local and len(requests) == 1
        # About a millisecond of CPU under the GIL either way: a hop to a thread would add
        # its own cost and contend with the event loop for the GIL.
        block = await self._prepared(model, requests, [caller] * len(requests), inline)
        # record: every decision of the block in one transaction, before any result leaves.
        try:
            records = await self.committer.append_async(block.drafts) if block.drafts else []
        except AuditWriteError:
            self.metrics.audit_write_failures.inc(len(block.drafts))
            raise
        return self._results(model, block, records, [received] * len(requests))

    async def score_each(
        self,
        model: ServedModel,
        requests: Sequence[ScoreRequest],
        callers: Sequence[Caller],
        received: Sequence[float],
    ) -> list[JsonDict | JifenError]:
        """Score separate requests as one block; each decision is recorded on its own.

        For applications that arrived apart and were gathered only to share the block's
        store read, ONNX run and TreeSHAP run (``serving.core.coalescer``): a record that
        does not commit withholds its own decision (an ``AuditWriteError`` in its place),
        not its neighbours'. On a local store the block runs on the event loop (the
        gatherer bounds its size). The outputs are those each would get alone: evaluation
        is row by row, to the bit, whatever the block.

        Raises:
            FeatureStoreUnavailableError: the store cannot be read (nothing is scored).

        """
        block = await self._prepared(model, requests, callers, self.source.local)
        committed = (
            await self.committer.append_each([[d] for d in block.drafts]) if block.drafts else []
        )
        records: list[StoredRecord | AuditWriteError] = []
        for got in committed:
            if isinstance(got, AuditWriteError):
                self.metrics.audit_write_failures.inc()
                records.append(got)
            else:
                records.append(got[0])
        return self._results(model, block, records, received)

    async def _prepared(
        self,
        model: ServedModel,
        requests: Sequence[ScoreRequest],
        callers: Sequence[Caller],
        inline: bool,
    ) -> "Prepared":
        if inline:
            return self.prepare(model, requests, callers)
        return await to_thread.run_sync(self.prepare, model, requests, callers)

    def _results(
        self,
        model: ServedModel,
        block: "Prepared",
        records: Sequence[StoredRecord | AuditWriteError],
        received: Sequence[float],
    ) -> list[JsonDict | JifenError]:
        """Build each recorded decision's result (``server_ms`` from its own receipt)."""
        now = time.perf_counter()
        outcomes = list(block.outcomes)
        for (i, request, inputs), evaluation, record in zip(
            block.ready, block.evaluations, records, strict=True
        ):
            if isinstance(record, AuditWriteError):
                outcomes[i] = record
                continue
            self.metrics.decisions.labels(evaluation.outcome).inc()
            server_ms = (now - received[i]) * 1000
            outcomes[i] = result_json(record, request, evaluation, model, inputs.as_of, server_ms)
        return outcomes

    def prepare(
        self, model: ServedModel, requests: Sequence[ScoreRequest], callers: Sequence[Caller]
    ) -> "Prepared":
        """Fetch, assemble and evaluate a block of applications, and draft their records."""
        received_at = datetime.now(UTC)
        # fetch: the whole block at once, only the features the model and policy read.
        needs, group_of = self.needs(model), self.source.group_of
        vectors = self.source.read([r.enterprise.credit_code for r in requests], needs.all)
        # assemble: per application; a 404 or 422 stays with its own item.
        outcomes: list[JsonDict | JifenError] = []
        ready: list[tuple[int, ScoreRequest, AssembledInputs]] = []
        for i, (request, vector) in enumerate(zip(requests, vectors, strict=True)):
            try:
                inputs = assemble_inputs(
                    request.enterprise.credit_code,
                    request.application,
                    request.inline_features,
                    vector,
                    needs,
                    group_of,
                    received_at,
                )
            except JifenError as exc:
                outcomes.append(exc)
                continue
            outcomes.append({})
            ready.append((i, request, inputs))
        # evaluate: the whole block at once (one ONNX run, one TreeSHAP run).
        applications = [request.application for _, request, _ in ready]
        rows = [inputs for _, _, inputs in ready]
        evaluations = (
            evaluate(model, self.policy, self.writer, applications, rows, self.per_direction)
            if ready
            else []
        )
        # draft: written here, where its data is still in cache; the writer only seals.
        drafts = [
            prepare_draft(self._draft(request, inputs, evaluation, model, callers[i]))
            for (i, request, inputs), evaluation in zip(ready, evaluations, strict=True)
        ]
        return Prepared(outcomes, ready, evaluations, drafts)

    def _draft(
        self,
        request: ScoreRequest,
        inputs: AssembledInputs,
        evaluation: Evaluation,
        model: ServedModel,
        caller: Caller,
    ) -> DecisionDraft:
        # Values are JSON scalars by construction (store protos, request fields, floats).
        values: dict[str, JsonValue] = dict(inputs.values)  # type: ignore[arg-type]
        # Every field is ours (validated request, authenticated key, evaluated outputs), so
        # the draft is not validated again field by field (that walk was a third of a
        # request's CPU); finiteness is enforced where it matters, when the record is
        # sealed: a non-finite number fails the commit and the decision is withheld.
        return DecisionDraft.model_construct(
            decision_id=new_decision_id(),
            caller_key_id=caller.key_id,
            model_version=model.model_version,
            catalogue_version=self.catalogue,
            feature_as_of=inputs.as_of,
            inputs={
                "request": request.model_dump(mode="json"),
                "values": values,
                "sources": dict(inputs.sources),
                "policy_version": self.policy.policy_version,
                "reasons_version": self.writer.texts.reasons_version,
                "reasons_per_direction": self.per_direction,
            },
            outputs=evaluation.outputs,
            explanation=evaluation.explanation,
        )
