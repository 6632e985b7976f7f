"""A seed fixes every byte the simulator writes."""

from pathlib import Path

from tests.features.simulate.conftest import SMALL, simulate


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*.parquet"))
    }


def test_files_are_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    """Two runs of one config write the same files, byte for byte (no timestamps, stable order)."""
    simulate(tmp_path / "a", **SMALL)
    simulate(tmp_path / "b", **SMALL)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(first) == 7 * 2 + 3  # two parts per raw table, three oracle files
    assert first == second


def test_files_differ_for_a_different_seed(tmp_path: Path) -> None:
    """Changing only the seed changes the raw tables."""
    simulate(tmp_path / "a", **SMALL)
    simulate(tmp_path / "b", **{**SMALL, "seed": SMALL["seed"] + 1})
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert (
        first["raw/applications/part-00000.parquet"]
        != second["raw/applications/part-00000.parquet"]
    )
    assert (
        first["raw/electricity_monthly/part-00000.parquet"]
        != second["raw/electricity_monthly/part-00000.parquet"]
    )


def test_stale_parts_are_removed_when_a_smaller_run_follows(tmp_path: Path) -> None:
    """A second, smaller run into the same folder leaves no part of the first behind."""
    simulate(tmp_path, **{**SMALL, "chunk_size": 50})
    run = simulate(tmp_path, **SMALL)
    parts = sorted(p.name for p in run.layout.raw("enterprises").glob("*.parquet"))
    assert parts == ["part-00000.parquet", "part-00001.parquet"]
