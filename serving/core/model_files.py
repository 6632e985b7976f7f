"""The bundle's two model files, read defensively: a bad file is a refusal, never a crash.

A bundle can pass its checksums and still hold a corrupt model: written corrupt and
checksummed as it was (a failed export, a copy cut short before the manifest was made).
Handed such a file, the native libraries fail in three ways, measured on mutated copies
of a trained bundle:

- ONNX Runtime raises an error of its own type (``[ONNXRuntimeError] : 7 :
  INVALID_PROTOBUF : ...``); ``onnx_failure`` turns it into a sentence.
- LightGBM raises ``LightGBMError`` for some damage, but when its header lists
  ``tree_sizes`` it parses the trees in parallel, and an error there ended the process
  (``terminate called``: 18 of 120 mutated files). ``lightgbm_text`` drops that line, so
  the trees are parsed one after another and every parse error is raised: 0 of the same
  120 ended the process.
- A file cut short in its parameters, a malformed parameter line, zeros written over
  part of the file, or a tree whose indices point outside the model (a split on feature
  70 of 10, a child that does not exist or points back up) crashed LightGBM with a
  segmentation fault when parsed or first used. ``lightgbm_text_problem`` checks the
  text's layout, its parameter lines and every tree's indices before LightGBM sees it.
  On 800 further mutated files (cuts, byte flips, digit changes, zeroed runs) it refused
  555; of the 245 it let through, none ended the process when LightGBM loaded, dumped,
  predicted and explained with them (9 raised LightGBMError, 3 a dump that is not JSON,
  which the bundle's self-check refuses).
"""

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Final

MODEL_ONNX: Final = "model.onnx"
MODEL_TEXT: Final = "model.lgb.txt"
_ORT_STATUS: Final = re.compile(r"\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*([A-Z_]+)\s*:\s*(.*)", re.S)
_ORT_MEANING: Final = {
    "INVALID_PROTOBUF": "is not a readable ONNX model: its bytes do not parse as an ONNX "
    "protobuf (the file is truncated, overwritten or not ONNX at all)",
    "INVALID_GRAPH": "parses as ONNX but its graph is invalid (a node, input or output is "
    "missing or malformed)",
    "INVALID_ARGUMENT": "does not accept the model's input matrix (its inputs differ from "
    "the ones encoder.json produces)",
    "NOT_IMPLEMENTED": "uses an operator or type this ONNX Runtime does not implement",
    "NO_MODEL": "holds no model",
}
"""ONNX Runtime's status names, as a sentence about the file (others: its own words)."""
_TREE_SIZES: Final = re.compile(r"^tree_sizes=.*\n", re.M)
_TREE: Final = re.compile(r"^Tree=(\d+)\r?$", re.M)
_PARAMETER: Final = re.compile(r"^\[[A-Za-z_0-9]+: [^\]\n]*\]\r?$")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PER_SPLIT: Final = (
    "split_gain",
    "threshold",
    "internal_value",
    "internal_weight",
    "internal_count",
)
_PER_LEAF: Final = ("leaf_value", "leaf_weight", "leaf_count")


def onnx_failure(exc: Exception) -> str:
    """Say in a sentence why ONNX Runtime refused the ONNX file (its status name kept)."""
    text = str(exc).strip()
    found = _ORT_STATUS.match(text)
    status, detail = (found.group(1), found.group(2).strip()) if found else (None, text)
    meaning = _ORT_MEANING.get(status or "", "cannot be loaded by ONNX Runtime")
    named = f" ({status}: {detail})" if status else f" ({detail})" if detail else ""
    return f"{MODEL_ONNX} {meaning}{named}"


def lightgbm_text(text: str) -> str:
    """Return the model text as LightGBM gets it: without ``tree_sizes`` (see the notes)."""
    return _TREE_SIZES.sub("", text, count=1)


def lightgbm_text_problem(text: str) -> str | None:
    """Say why LightGBM must not parse this model text (None: its layout and indices hold)."""
    try:
        _check_lightgbm_text(text)
    except _DamagedError as exc:
        return str(exc)
    return None


class _DamagedError(ValueError):
    """What is wrong with a model text, in words."""


def _check_lightgbm_text(text: str) -> None:
    control = _CONTROL.search(text)
    if control is not None:
        raise _DamagedError(
            f"it holds a control character ({control.group()!r} at {control.start()}): "
            "a model text has none, a file overwritten with zeros has"
        )
    if "\nend of trees" not in text:
        raise _DamagedError("it is cut short (it has no 'end of trees' line)")
    parameters = text.find("\nparameters:\n")
    if parameters >= 0:
        end = text.find("\nend of parameters", parameters)
        if end < 0:
            raise _DamagedError("it is cut short (its parameters have no 'end of parameters' line)")
        for line in text[parameters + 13 : end].splitlines():
            if line and not _PARAMETER.match(line):
                raise _DamagedError(
                    f"its parameters hold a line that is not '[key: value]': {line[:40]!r}"
                )
    header = _fields(text[: text.find("\nTree=")])
    n_features = _int(header, "max_feature_idx") + 1
    for number, block in _trees(text):
        try:
            _check_tree(_fields(block), n_features)
        except _DamagedError as exc:
            raise _DamagedError(f"tree {number}: {exc}") from None


def _fields(block: str) -> dict[str, str]:
    return dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)


def _trees(text: str) -> Iterator[tuple[str, str]]:
    """Each tree's number and its lines, up to the next tree or the end of the trees."""
    end = text.find("\nend of trees")
    starts = list(_TREE.finditer(text, 0, end))
    for found, after in zip(starts, [*starts[1:], None], strict=True):
        yield found.group(1), text[found.end() : after.start() if after else end]


def _int(fields: dict[str, str], key: str) -> int:
    try:
        return int(fields.get(key, ""))
    except ValueError:
        raise _DamagedError(f"{key} is not an integer: {fields.get(key)!r}") from None


def _values(fields: dict[str, str], key: str, count: int) -> list[str]:
    values = fields.get(key, "").split()
    if len(values) != count:
        raise _DamagedError(f"{key} has {len(values)} values, not {count}")
    return values


def _ints(fields: dict[str, str], key: str, count: int) -> list[int]:
    try:
        return [int(v) for v in _values(fields, key, count)]
    except ValueError:
        raise _DamagedError(f"{key} holds a value that is not an integer") from None


def _check_shape(fields: dict[str, str], splits: int, leaves: int) -> None:
    """Every node but the root, and every leaf, is the child of exactly one node.

    LightGBM follows the child indices as they are: one out of range reads outside the
    tree, one that points back up makes a walk that never ends.
    """
    children = _ints(fields, "left_child", splits) + _ints(fields, "right_child", splits)
    nodes = sorted(c for c in children if c >= 0)
    ends = sorted(~c for c in children if c < 0)
    if nodes != list(range(1, splits)) or ends != list(range(leaves)):
        raise _DamagedError(
            "left_child and right_child do not make a tree (a node or leaf is missing, "
            "repeated or out of range)"
        )


def _check_tree(fields: dict[str, str], n_features: int) -> None:
    """Check one tree's sizes and the indices LightGBM follows without bounds checks."""
    leaves, categorical = _int(fields, "num_leaves"), _int(fields, "num_cat")
    if leaves < 1 or categorical < 0:
        raise _DamagedError(f"num_leaves {leaves} or num_cat {categorical} is out of range")
    if leaves == 1:
        return
    splits = leaves - 1
    if any(not 0 <= f < n_features for f in _ints(fields, "split_feature", splits)):
        raise _DamagedError(f"split_feature names a feature outside the model's {n_features}")
    for key in _PER_SPLIT:
        _values(fields, key, splits)
    for key in _PER_LEAF:
        _values(fields, key, leaves)
    _check_shape(fields, splits, leaves)
    thresholds = _values(fields, "threshold", splits)
    kinds = _ints(fields, "decision_type", splits)
    if categorical:
        bounds = _ints(fields, "cat_boundaries", categorical + 1)
        if bounds[0] != 0 or any(b < a for a, b in pairwise(bounds)):
            raise _DamagedError("cat_boundaries do not rise from 0")
        _values(fields, "cat_threshold", bounds[-1])
    for kind, threshold in zip(kinds, thresholds, strict=True):
        if kind & 1 and not (threshold.isdigit() and int(threshold) < categorical):
            raise _DamagedError(f"a categorical split names set {threshold} of {categorical}")
