"""Helpers every bench script shares: a run folder and the CPU capacity of the moment.

Kept apart from any one bench (and from ``tests/``) so that a bench imports only library
code and this module.
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def bench_folder(name: str, *, keep: bool) -> Iterator[Path]:
    """A fresh folder ``bench/jifen-bench-<name>-*`` for one run, removed after unless kept."""
    work = Path(tempfile.mkdtemp(prefix=f"jifen-bench-{name}-", dir=Path.cwd() / "bench"))
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def cpu_capacity(seconds: float = 0.4, rounds: int = 3) -> str:
    """How many cores this machine gave at the moment, formatted (``1.62``).

    Cores on a shared VM run slower when the host is busy; this says how much of the two
    the figures of this run had (a row measured on 1.4 effective cores is not a regression
    against one measured on 2). A fixed spin counts loop turns in ``seconds``: one process
    alone, then two at once over the same wall-clock window, ``rounds`` times alternately;
    the figure is the median of (two together / one alone).
    """
    code = (
        "import sys, time\nstart = float(sys.argv[1])\n"
        "while time.time() < start: time.sleep(0.001)\n"
        f"n = 0\nwhile time.time() < start + {seconds}: n += 1\nprint(n)"
    )

    def spin(copies: int) -> int:
        start = f"{time.time() + 0.5:.6f}"  # after every copy has started
        procs = [
            subprocess.Popen([sys.executable, "-c", code, start], stdout=subprocess.PIPE, text=True)
            for _ in range(copies)
        ]
        return sum(int(p.communicate(timeout=60)[0]) for p in procs)

    ratios = [spin(2) / spin(1) for _ in range(rounds)]
    return f"{statistics.median(ratios):.2f}"
