"""A page being drawn: Pillow does the drawing, the page remembers where every labelled value landed.

Layouts call `text()` in reading order, grouped into blocks (`block()`); within a block words on the same
line are read left to right. `fields` maps each dotted label path to its canonical value and the union of the
boxes of the text that prints it. Text never runs past its room, the page's margins or a given width: `fit()`
makes it smaller, then wraps it, so that every labelled value is printed in full. A page with letter-spaced
headings (`Style.tracking`) sets its bold text a character at a time, that far apart; measuring it does the same.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .fonts import fake_bold, font

Box = tuple[float, float, float, float]
SHRINK = 0.8  # text too wide for its room is drawn down to this share of its size before it wraps
LEADING = 1.25  # line pitch of wrapped text, in its own size
LETTER_SPACED = 0.2  # share of pages whose bold text (headings, totals) is letter-spaced


@dataclass(frozen=True)
class Style:
    family: str
    size: int  # body text height in pixels
    accent: tuple[int, int, int]
    ink: tuple[int, int, int] = (20, 20, 20)
    tracking: float = 0.0  # extra space after each character of bold text, in body sizes: letter-spaced headings


@dataclass
class Word:
    text: str
    box: Box
    name: str | None = None  # the field it prints


@dataclass
class Page:
    width: int
    height: int
    style: Style
    paper: tuple[int, int, int] = (255, 255, 255)
    margin: float = 0  # text stays this far from the left and right edges
    fields: dict[str, tuple[str, Box]] = field(default_factory=dict)
    blocks: list[list[Word]] = field(default_factory=lambda: [[]])
    # what of realism the page carries (marks/stamp, codes/qr-epc, ...), and where its codes are: print wear spares them
    features: list[str] = field(default_factory=list)
    codes: list[Box] = field(default_factory=list)

    def __post_init__(self):
        self.image = Image.new("RGB", (self.width, self.height), self.paper)
        self.draw = ImageDraw.Draw(self.image)
        if self.style.tracking:
            self.features.append("print/letter-spaced")

    def crop(self, height: int):
        """Cut the page to the height its content needs (receipts)."""
        self.height = height
        self.image = self.image.crop((0, 0, self.width, height))
        self.draw = ImageDraw.Draw(self.image)

    def block(self):
        """Start a new reading-order block (a column, a table, a footer)."""
        if self.blocks[-1]:
            self.blocks.append([])

    def font(self, size: float = 1.0, bold: bool = False):
        return font(self.style.family, round(self.style.size * size), bold)

    def spacing(self, size: float, bold: bool) -> float:
        """The extra pixels after each character of text of this size and weight (bold text, on a letter-spaced page)."""
        return self.style.tracking * self.style.size * size if bold else 0.0

    def width_of(self, text: str, size: float = 1.0, bold: bool = False) -> float:
        return self.font(size, bold).getlength(text) + self.spacing(size, bold) * max(0, len(text) - 1)

    def room(self, x: float, anchor: str) -> float:
        """How wide text anchored at `x` may be before it crosses the page's left or right margin."""
        left, right = x - self.margin, self.width - self.margin - x
        return {"l": right, "r": left, "m": 2 * min(left, right)}[anchor[0]]

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: float = 1.0,
        bold: bool = False,
        fill=None,
        anchor: str = "la",
        name: str | None = None,
        value: str | None = None,
        width: float | None = None,
    ) -> Box:
        """Draw `text` (size relative to the body size) fitted to `width`, by default its room up to the margins;
        record it as the field `name` when given. Return the box around it, over all its lines if it wrapped."""
        x, y = xy
        size, lines = self.fit(text, self.room(x, anchor) if width is None else width, size, bold)
        font, stroke, fill = self.font(size, bold), fake_bold(self.style.family, bold), fill or self.style.ink
        boxes, spacing = [], self.spacing(size, bold)
        for i, line in enumerate(lines):
            at = (x, y + i * self.style.size * size * LEADING)
            if spacing:
                boxes.append(self.spaced_line(at, line, font, stroke, spacing, fill, anchor))
            else:
                self.draw.text(at, line, font=font, fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=fill)
                boxes.append(self.draw.textbbox(at, line, font=font, anchor=anchor, stroke_width=stroke))
            self.blocks[-1].append(Word(line, boxes[-1], name))
        box = union(*boxes)
        if name is not None:
            self.record(name, value if value is not None else text, box)
        return box

    def spaced_line(
        self, xy: tuple[float, float], line: str, font, stroke: int, spacing: float, fill, anchor: str
    ) -> Box:
        """Draw a line a character at a time, `spacing` apart, placed as `anchor` places the whole; return its box."""
        x, y = xy
        x -= {"l": 0, "m": 0.5, "r": 1}[anchor[0]] * (font.getlength(line) + spacing * max(0, len(line) - 1))
        ink, inked = {"font": font, "anchor": "l" + anchor[1], "stroke_width": stroke}, []
        for k, character in enumerate(line):  # where the kerned line would put it, moved k spacings on
            at = (x + font.getlength(line[:k]) + k * spacing, y)
            self.draw.text(at, character, fill=fill, stroke_fill=fill, **ink)
            if not character.isspace():
                inked.append((at, character))
        if not inked:
            return self.draw.textbbox((x, y), line, **ink)
        top, bottom = self.draw.textbbox((x, y), line, **ink)[1::2]  # the line's height, its ends from its glyphs
        return self.draw.textbbox(*inked[0], **ink)[0], top, self.draw.textbbox(*inked[-1], **ink)[2], bottom

    def lines(
        self,
        xy: tuple[float, float],
        text: str,
        size: float = 1.0,
        spacing: float = 1.35,
        bold: bool = False,
        anchor: str = "la",
        width: float | None = None,
        **kwargs,
    ) -> float:
        """Draw multi-line text one printed line at a time (each its own word), every line fitted to `width` like
        `text()`; return the y below it."""
        x, y = xy
        width = self.room(x, anchor) if width is None else width
        if kwargs.get("name"):
            kwargs.setdefault("value", text)  # the field's value is the whole text, not its last line
        for paragraph in text.split("\n"):
            fitted, parts = self.fit(paragraph, width, size, bold)
            for part in parts:
                self.text((x, y), part, fitted, bold, anchor=anchor, width=width, **kwargs)
                y += self.style.size * size * spacing
        return y

    def fit(self, text: str, width: float, size: float = 1.0, bold: bool = False) -> tuple[float, list[str]]:
        """The size and lines that print `text` within `width`: its own size on one line if it fits there, else
        one pixel smaller at a time down to SHRINK of it, else that smallest size wrapped onto several lines."""
        pixels = round(self.style.size * size)
        for smaller in range(pixels, round(pixels * SHRINK) - 1, -1):
            fitted = size if smaller == pixels else smaller / self.style.size
            if self.width_of(text, fitted, bold) <= width:
                return fitted, [text]
        return fitted, self.wrap(text, width, fitted, bold)

    def wrap(self, text: str, width: float, size: float = 1.0, bold: bool = False) -> list[str]:
        """Break text at spaces so that each line fits `width`. A word wider than that breaks after its @ . - or /
        (an email, a web address), and between characters where it must (Japanese, which has no spaces)."""

        def fits(part: str) -> bool:
            return self.width_of(part, size, bold) <= width

        if fits(text):
            return [text]
        lines = [""]
        for word in text.split(" "):
            pieces = [word] if fits(word) else re.split(r"(?<=[@./-])", word)
            units = [unit for piece in pieces for unit in ([piece] if fits(piece) else piece)]
            for i, unit in enumerate(units):
                candidate = f"{lines[-1]} {unit}" if lines[-1] and i == 0 else lines[-1] + unit
                if lines[-1] and not fits(candidate):
                    lines.append(unit)
                else:
                    lines[-1] = candidate
        return lines

    def record(self, name: str, value: str, box: Box):
        if name in self.fields:  # a value printed over several lines: one box around all of them
            box = union(self.fields[name][1], box)
        self.fields[name] = (value, box)

    def reading_text(self, shown: Callable[[list[Box]], np.ndarray] | None = None) -> str:
        """The page's text in reading order: blocks in drawing order, lines top to bottom, words left to right.
        `shown` says which of a block's runs the captured image still holds whole (a cut margin takes the rest)."""
        out, kept = [], None if shown is None else iter(shown([word.box for block in self.blocks for word in block]))
        for words in self.blocks:
            if kept is not None:
                words = [word for word in words if next(kept)]
            lines: list[list[Word]] = []
            for word in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
                middle = (word.box[1] + word.box[3]) / 2
                last = lines[-1][-1] if lines else None
                if last and abs(middle - (last.box[1] + last.box[3]) / 2) < (last.box[3] - last.box[1]) / 2:
                    lines[-1].append(word)
                else:
                    lines.append([word])
            out += [" ".join(w.text for w in sorted(line, key=lambda w: w.box[0])) for line in lines]
        return "\n".join(out)


@dataclass(frozen=True)
class Column:
    key: str  # line-item key: description, quantity, unit_price, amount, or "position"
    header: str
    width: float
    align: str = "left"  # left or right


# A cell to draw: printed text, and the field it prints (None for a position number).
Cell = tuple[str, str | None, str | None]


def draw_table(
    page: Page,
    x: float,
    y: float,
    columns: list[Column],
    rows: list[dict[str, Cell]],
    rule: str,
    footer: list[tuple[str, Cell]] = (),
    bottom: float = float("inf"),
) -> tuple[float, list, int]:
    """Draw a line-item table; return the y below it, its grid (header, rows, footer) for HTML/OTSL and how many
    rows it drew: those that fit above `bottom` (the last of them with the footer), at least one.

    `rule` is the look: ruled, zebra, borderless, grid or filled (accent header). Footer rows put a label
    across all columns but the last, which holds the value (a `colspan` in HTML, `<lcel>`s in OTSL). A table
    that stops before its last row has no footer: the rest continues on the next page.
    """
    size, pad = page.style.size, page.style.size * 0.5
    draw, accent, total_width = page.draw, page.style.accent, sum(c.width for c in columns)
    lefts = [x + sum(c.width for c in columns[:i]) for i in range(len(columns))]
    page.block()

    def cell_x(i: int) -> tuple[float, str]:
        return (lefts[i] + columns[i].width - pad, "ra") if columns[i].align == "right" else (lefts[i] + pad, "la")

    inner = [c.width - 2 * pad for c in columns]  # what a cell's text may take

    heads = [page.fit(c.header, width, 0.92, bold=True) for c, width in zip(columns, inner, strict=True)]
    drops = [(len(lines) - 1) * fitted * LEADING * size for fitted, lines in heads]  # a wrapped header's extra lines
    height = size * 2.1 + max(drops)
    header_fill = (255, 255, 255) if rule == "filled" else None
    if rule == "filled":
        draw.rectangle((x, y, x + total_width, y + height), fill=accent)
    for i, column in enumerate(columns):
        cx, anchor = cell_x(i)
        middle = (cx, y + (height - drops[i]) / 2)
        page.text(middle, column.header, 0.92, bold=True, fill=header_fill, anchor=anchor[0] + "m", width=inner[i])
    grid = [[(c.header, 1) for c in columns]]
    draw.line(
        (x, y + height, x + total_width, y + height), fill=page.style.ink if rule != "filled" else accent, width=2
    )
    top = y
    y += height
    for r, row in enumerate(rows):
        # Text wraps at its own size; a number (a right-aligned column) shrinks first, and wraps only if it must.
        fitted = [
            page.fit(row[c.key][0], width) if c.align == "right" else (1.0, page.wrap(row[c.key][0], width))
            for c, width in zip(columns, inner, strict=True)
        ]
        wrapped = [lines for _, lines in fitted]
        row_height = size * (0.9 + 1.25 * max(map(len, wrapped)))
        below = len(footer) * size * 2.1 if r == len(rows) - 1 else 0
        if r and y + row_height + below > bottom:
            rows, footer = rows[:r], ()
            break
        if rule == "zebra" and r % 2 == 0:
            draw.rectangle((x, y, x + total_width, y + row_height), fill=tint(accent))
        for i, column in enumerate(columns):
            text, name, value = row[column.key]
            cx, anchor = cell_x(i)
            for j, line in enumerate(wrapped[i]):
                if not line:  # an empty cell (a line without a discount) draws nothing
                    continue
                at = (cx, y + size * 0.45 + j * size * 1.25)
                page.text(at, line, fitted[i][0], anchor=anchor, name=name, value=value, width=inner[i])
        grid.append([(row[c.key][0], 1) for c in columns])
        y += row_height
        if rule in ("ruled", "grid"):
            draw.line((x, y, x + total_width, y), fill=(150, 150, 150), width=1)
    rows_end = y
    for label, (text, name, value) in footer:
        page.text((lefts[-1] - pad, y + size * 0.45), label, bold=True, anchor="ra", width=lefts[-1] - x - 2 * pad)
        at = (cell_x(len(columns) - 1)[0], y + size * 0.45)
        page.text(at, text, bold=True, anchor="ra", name=name, value=value, width=inner[-1])
        grid.append([(label, len(columns) - 1), (text, 1)])
        y += size * 2.1
        draw.line((x, y, x + total_width, y), fill=(150, 150, 150), width=1)
    if rule == "grid":
        draw.rectangle((x, top, x + total_width, y), outline=page.style.ink, width=2)
        for left in lefts[1:]:  # footer labels span all columns but the last
            draw.line((left, top, left, y if left == lefts[-1] else rows_end), fill=page.style.ink)
    elif rule != "borderless":
        draw.line((x, y, x + total_width, y), fill=page.style.ink, width=2)
    page.block()
    return y, grid, len(rows)


def letter_spacing(rng) -> float:
    """A page's `Style.tracking`: none, or in LETTER_SPACED of pages 5 to 16 % of the body size."""
    return rng.uniform(0.05, 0.16) if rng.random() < LETTER_SPACED else 0.0


def union(*boxes: Box) -> Box:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def tint(color: tuple[int, int, int], strength: float = 0.12) -> tuple[int, int, int]:
    """A pale version of an accent colour, for zebra rows and boxes."""
    return tuple(round(255 - (255 - c) * strength) for c in color)
