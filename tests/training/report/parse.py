"""Read a rendered report back with the standard library's HTML parser.

Tables (by ``id`` or ``class``) become lists of rows of cell texts; images, headings with
an ``id`` and the whole visible text are collected too, so tests can check the numbers a
reader sees rather than the template's source.
"""

import base64
import struct
from dataclasses import dataclass, field
from html.parser import HTMLParser

_BLOCKS = frozenset({"div", "p", "td", "th", "tr", "li", "br", "h1", "h2", "h3", "figcaption"})


@dataclass
class ParsedReport:
    """What a reader of the page sees."""

    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    tables_by_class: dict[str, list[list[list[str]]]] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    section_ids: list[str] = field(default_factory=list)
    text: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = ParsedReport()
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._skip = 0
        self._chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in _BLOCKS:
            self._chunks.append(" ")
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._table = []
            if a.get("id"):
                self.out.tables[str(a["id"])] = self._table
            for cls in (a.get("class") or "").split():
                self.out.tables_by_class.setdefault(cls, []).append(self._table)
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "img":
            self.out.images.append(str(a.get("src", "")))
        elif tag in ("h2", "section") and a.get("id"):
            self.out.section_ids.append(str(a["id"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._chunks.append(" ")
        if tag in ("style", "script"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._chunks.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_report(html: str) -> ParsedReport:
    """Parse a report's HTML."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    parser.out.text = " ".join("".join(parser._chunks).split())
    return parser.out


def png_size(data_uri: str) -> tuple[int, int]:
    """Width and height of an embedded PNG (checks the PNG signature and IHDR chunk)."""
    prefix = "data:image/png;base64,"
    assert data_uri.startswith(prefix), data_uri[:40]
    raw = base64.b64decode(data_uri[len(prefix) :])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = struct.unpack(">II", raw[16:24])
    return int(width), int(height)
