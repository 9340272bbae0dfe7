"""Line-item tables as a grid of cells, HTML and OTSL (PaddleOCR-VL's table tokens).

A grid is a list of rows; a row is a list of (text, colspan) cells. OTSL writes each cell as `<fcel>text`
(or `<ecel>` when empty), each further column a cell spans as `<lcel>`, and ends each row with `<nl>`.
"""

import html
import re
from html.parser import HTMLParser

Grid = list[list[tuple[str, int]]]


def grid_to_html(grid: Grid) -> str:
    def cell(text: str, span: int) -> str:
        attributes = f' colspan="{span}"' if span > 1 else ""
        return f"<td{attributes}>{html.escape(text, quote=False)}</td>"

    return "<table>" + "".join("<tr>" + "".join(cell(*c) for c in row) + "</tr>" for row in grid) + "</table>"


def grid_to_otsl(grid: Grid) -> str:
    return "".join(
        "".join((f"<fcel>{text}" if text else "<ecel>") + "<lcel>" * (span - 1) for text, span in row) + "<nl>"
        for row in grid
    )


_OTSL_TOKEN = re.compile(r"(<fcel>|<ecel>|<lcel>|<ucel>|<xcel>|<nl>)")


def otsl_to_grid(otsl: str) -> Grid:
    """Parse OTSL back into cells; `<ucel>`/`<xcel>` (row spans) extend nothing here and are skipped."""
    grid, row = [], []
    tokens = _OTSL_TOKEN.split(otsl)
    for i, token in enumerate(tokens):
        if token in ("<fcel>", "<ecel>"):
            text = tokens[i + 1] if token == "<fcel>" else ""
            row.append((text.strip(), 1))
        elif token == "<lcel>" and row:
            row[-1] = (row[-1][0], row[-1][1] + 1)
        elif token == "<nl>":
            grid.append(row)
            row = []
    return grid + ([row] if row else [])


class _TableParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.grid: Grid = []
        self.cell: list[str] | None = None
        self.span = 1

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.grid.append([])
        elif tag in ("td", "th"):
            self.cell, self.span = [], int(dict(attrs).get("colspan") or 1)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.grid[-1].append(("".join(self.cell).strip(), self.span))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_to_grid(table_html: str) -> Grid:
    parser = _TableParser()
    parser.feed(table_html)
    return parser.grid


def html_document(table_html: str) -> str:
    """A bare `<table>` as the `<html><body>` document PubTabNet's TEDS scores (it finds no table otherwise)."""
    return f"<html><body>{table_html}</body></html>"


def otsl_to_html(otsl: str) -> str:
    """A model's OTSL answer as the HTML document TEDS compares with the true table."""
    return html_document(grid_to_html(otsl_to_grid(otsl)))
