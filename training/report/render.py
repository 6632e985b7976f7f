"""HTML rendering shared by the validation, monitoring and decision reports.

One jinja2 environment per set of template packages, with autoescaping on and a few
number filters; every template extends ``_base.html.j2`` (page style, Noto Sans CJK SC
for the Chinese text). Images are embedded as ``data:`` URIs of real PNG files, so a
report is one self-contained file that can be archived, mailed or printed to PDF.
"""

import base64
import math
from functools import lru_cache
from typing import Any

import jinja2

from training.report.config import Level

BASE_PACKAGE = "training.report"


def data_uri(png: bytes) -> str:
    """Return a PNG as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def pct(value: Any, digits: int = 2) -> str:
    """Format a share as a percentage, e.g. 0.025 → ``2.50 %``; ``—`` when missing."""
    return "—" if _missing(value) else f"{100 * float(value):.{digits}f} %"


def num(value: Any, digits: int = 4) -> str:
    """Format a number with fixed decimals; integers as they are; ``—`` when missing."""
    if _missing(value):
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def pvalue(value: Any) -> str:
    """Format a p-value: four decimals, or ``< 0.0001``."""
    if _missing(value):
        return "—"
    return "< 0.0001" if float(value) < 1e-4 else f"{float(value):.4f}"


def light(level: Level | str) -> str:
    """Bilingual label of a traffic light."""
    return {"green": "绿 green", "amber": "黄 amber", "red": "红 red"}[str(level)]


@lru_cache(maxsize=8)
def environment(*packages: str) -> jinja2.Environment:
    """Return an environment loading ``<package>/templates`` of each package, then the base's."""
    loaders = [jinja2.PackageLoader(p, "templates") for p in (*packages, BASE_PACKAGE)]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({"pct": pct, "num": num, "pvalue": pvalue, "light": light})
    return env


def render(template: str, context: dict[str, Any], *packages: str) -> str:
    """Render ``template`` (found in ``packages`` or the base package) with ``context``."""
    return environment(*packages).get_template(template).render(**context)
