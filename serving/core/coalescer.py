"""Single applications that reach a worker together are scored as one block.

Under load, requests arrive while the event loop is busy scoring, and the next turn of the
loop reads several at once. Scored one by one, each pays the fixed cost of a store read, an
ONNX run and a TreeSHAP run; scored as a block, they share them (in process, 0.75 ms of CPU
per application alone, 0.57 in blocks of 2, 0.49 in blocks of 4).

A request hands its application to the ``ScoreCoalescer`` and waits. The first one to find
nothing pending schedules a flush for the loop's next turn, so every request read in the
same turn joins the block; nothing is held back to wait for more, and a request that
arrives alone is scored alone. The block goes through ``DecisionService.score_each``: each
decision is recorded on its own, and each result is the one the application gets alone
(evaluation is row by row, to the bit; tested). One firm may be in a block several times
(a retry, two products, 16 clients at once): the store read answers every slot
(``tests/reliability/test_same_firm.py``).
"""

import asyncio
from dataclasses import dataclass

from jifen.errors import JifenError
from serving.core.bundle import ServedModel
from serving.core.evaluation import JsonDict
from serving.core.metrics import Metrics
from serving.core.scoring import DecisionService
from serving.schemas import Caller, ScoreRequest


@dataclass(frozen=True)
class _Waiting:
    """One request's application, and where its outcome goes."""

    model: ServedModel
    request: ScoreRequest
    caller: Caller
    received: float
    done: "asyncio.Future[JsonDict | JifenError]"


class ScoreCoalescer:
    """Gathers the single applications of one turn of the event loop into blocks.

    Args:
        decisions: the decision service that scores and records a block.
        metrics: where each block's size is recorded.
        max_block: most applications in one block (1: each is scored alone).

    """

    def __init__(self, decisions: DecisionService, metrics: Metrics, max_block: int) -> None:
        self.decisions = decisions
        self.metrics = metrics
        self.max_block = max_block
        self._pending: list[_Waiting] = []
        self._scheduled = False
        self._blocks: set[asyncio.Task[None]] = set()

    async def score(
        self, model: ServedModel, request: ScoreRequest, caller: Caller, received: float
    ) -> JsonDict | JifenError:
        """Score one application, with whatever else arrived in the same turn of the loop.

        Returns:
            Its result (``ScoreResult`` as JSON), or the error that kept it from a score or
            from the audit log (its decision is then withheld).

        Raises:
            FeatureStoreUnavailableError: the store cannot be read (nothing is scored).

        """
        loop = asyncio.get_running_loop()
        waiting = _Waiting(model, request, caller, received, loop.create_future())
        self._pending.append(waiting)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        # A caller that stops waiting cancels only its future: its application is still
        # scored and recorded with the block (an unanswered decision, never an unrecorded one).
        return await waiting.done

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        while pending:
            # One model per block (a reload between two arrivals splits them), in order.
            model = pending[0].model
            block: list[_Waiting] = []
            rest: list[_Waiting] = []
            for w in pending:
                (block if w.model is model and len(block) < self.max_block else rest).append(w)
            pending = rest
            task = asyncio.get_running_loop().create_task(self._score(model, block))
            self._blocks.add(task)
            task.add_done_callback(self._blocks.discard)

    async def _score(self, model: ServedModel, block: list[_Waiting]) -> None:
        self.metrics.score_block.observe(len(block))
        try:
            outcomes = await self.decisions.score_each(
                model,
                [w.request for w in block],
                [w.caller for w in block],
                [w.received for w in block],
            )
        except Exception as exc:  # the store is down, or a bug: every waiter hears it
            for w in block:
                if not w.done.done():
                    w.done.set_exception(exc)
            return
        except BaseException:  # cancelled (shut-down): no waiter is left hanging
            for w in block:
                w.done.cancel()
            raise
        for w, outcome in zip(block, outcomes, strict=True):
            if not w.done.done():
                w.done.set_result(outcome)
