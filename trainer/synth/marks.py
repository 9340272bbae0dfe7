"""What people and office machines add to a printed page: rubber stamps, handwriting, highlighter, punched holes,
staples, and the print of the back of the sheet showing through.

Marks may cross printed text as real ones do, but never hide a labelled value: every opaque mark is tried at a few
places and kept at the first where, with the marks before it, it covers at most COVERAGE of each labelled value's
box and nothing of a barcode or QR code (else it is left off). `page.ink` keeps the opaque marks' pixels so that tests can measure the same.
"""

import math
import random

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from .fonts import font, has_glyphs
from .locales import date_styles, format_day
from .page import Page, Word

COVERAGE = 0.15  # the most of a labelled value's box that opaque marks may cover
OPAQUE = 128  # alpha from which a mark's pixel counts as covering what is under it
# mark -> (share of invoices, share of receipts) that carry it
MARKS = {
    "stamp": (0.2, 0.08),
    "handwriting": (0.2, 0.15),
    "highlighter": (0.1, 0.15),
    "punch-holes": (0.1, 0.0),
    "staple": (0.08, 0.1),
    "bleed-through": (0.08, 0.0),
}
STAMP_WORDS = {
    "en": ("PAID", "RECEIVED", "POSTED", "APPROVED", "ENTERED"),
    "de": ("BEZAHLT", "EINGEGANGEN", "GEBUCHT", "GEPRÜFT"),
    "fr": ("PAYÉ", "REÇU", "COMPTABILISÉ", "VÉRIFIÉ"),
    "es": ("PAGADO", "RECIBIDO", "CONTABILIZADO"),
    "it": ("PAGATO", "RICEVUTO", "REGISTRATO"),
    "ja": ("支払済", "受領", "検収済", "経理"),
    "ms": ("DIBAYAR", "DITERIMA", "LUNAS", "DISAHKAN"),
    "zh": ("已付款", "收讫", "已入账", "财务专用章"),
    "nl": ("BETAALD", "ONTVANGEN", "GEBOEKT", "GOEDGEKEURD"),
    "pt": ("PAGO", "RECEBIDO", "LANÇADO", "CONFERIDO"),
}
STAMP_INKS = [(200, 30, 40), (30, 60, 170), (120, 20, 110), (40, 40, 40)]
PENS = [(20, 40, 140), (25, 25, 30), (160, 20, 30)]
HIGHLIGHTERS = [(255, 238, 60), (150, 250, 120), (255, 160, 210), (120, 220, 255)]


def add_marks(page: Page, doc: dict, rng: random.Random, locale: str):
    """Draw the marks this page draws by its own chances, recording each in `page.features`."""
    column = doc["doc_type"] == "receipt"
    page.ink = np.zeros((page.height, page.width), dtype=bool)
    for name, shares in MARKS.items():
        if rng.random() < shares[column] and DRAW[name](page, doc, rng, locale):
            page.features.append(f"marks/{name}")


def _place(page: Page, patch: Image.Image, spots: list[tuple[float, float]]) -> tuple[int, int] | None:
    """The first top-left corner among `spots` where the patch's opaque pixels, with the marks already there, cover
    at most COVERAGE of every labelled box and fit on the page; there the patch is composited and None if nowhere."""
    alpha = np.asarray(patch.getchannel("A")) >= OPAQUE
    for x, y in spots:
        x, y = round(x), round(y)
        if x < 0 or y < 0 or x + patch.width > page.width or y + patch.height > page.height:
            continue
        ink = page.ink.copy()
        ink[y : y + patch.height, x : x + patch.width] |= alpha
        labels_legible = all(_covered(ink, box) <= COVERAGE for _, box in page.fields.values())
        if labels_legible and not any(_covered(ink, box) for box in page.codes):  # codes must still scan
            page.ink = ink
            page.image.paste(patch, (x, y), patch)
            return x, y
    return None


def _covered(ink: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3]))
    region = ink[max(0, y0) : y1, max(0, x0) : x1]
    return float(region.mean()) if region.size else 0.0


def _spots(page: Page, rng: random.Random, size: tuple[int, int], count: int = 6) -> list[tuple[float, float]]:
    return [(rng.uniform(0, page.width - size[0]), rng.uniform(0, page.height - size[1])) for _ in range(count)]


def draw_stamp(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """A rubber stamp: a word in a double frame, often dated, in red or blue, patchy, translucent and askew."""
    s, words = page.style.size, STAMP_WORDS[locale[:2]]
    word = rng.choice(words)
    dated = rng.random() < 0.6
    date = doc.get("issue_date") or doc["date"]
    when = format_day(date, locale, rng.choice(date_styles(locale))) if dated else ""
    family = "sans" if has_glyphs("sans", word + when) else page.style.family  # a face with the language's glyphs
    big, small = font(family, round(s * rng.uniform(1.6, 2.2)), True), font(family, round(s * 0.95), True)
    width = max(big.getlength(word), small.getlength(when)) + 3 * s
    height = round(big.size * 1.5 + (small.size * 1.6 if dated else 0) + s)
    ink = rng.choice(STAMP_INKS)
    patch = Image.new("RGBA", (round(width), height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.rounded_rectangle((2, 2, patch.width - 3, height - 3), s * 0.6, outline=ink + (255,), width=max(3, s // 5))
    draw.rounded_rectangle((8, 8, patch.width - 9, height - 9), s * 0.4, outline=ink + (255,), width=1)
    draw.text((patch.width / 2, s * 0.5 + big.size * 0.1), word, font=big, fill=ink + (255,), anchor="ma")
    if dated:
        draw.text((patch.width / 2, s * 0.5 + big.size * 1.45), when, font=small, fill=ink + (255,), anchor="ma")
    noise = np.random.default_rng(rng.getrandbits(32)).uniform(0.35, 1.0, (height, patch.width))
    alpha = np.asarray(patch.getchannel("A"), dtype=np.float32) * noise * rng.uniform(0.6, 0.85)  # uneven ink
    patch.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    patch = patch.rotate(rng.uniform(-18, 18), Image.Resampling.BILINEAR, expand=True)
    if (at := _place(page, patch, _spots(page, rng, patch.size))) is None:
        return False
    box = (at[0], at[1], at[0] + patch.width, at[1] + patch.height)
    page.blocks.append([Word(" ".join(filter(None, (word, when))), box)])  # a reader reads the stamp too
    page.blocks.append([])
    return True


def _curve(points: list[tuple[float, float]], steps: int = 8) -> list[tuple[float, float]]:
    """A Catmull-Rom spline through the points: a pen's smooth stroke."""
    points = [points[0], *points, points[-1]]
    out = []
    for p0, p1, p2, p3 in zip(points, points[1:], points[2:], points[3:], strict=False):
        for k in range(steps):
            t = k / steps
            out.append(tuple(
                0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t * t + (3 * b - a - 3 * c + d) * t**3)
                for a, b, c, d in zip(p0, p1, p2, p3, strict=True)
            ))  # fmt: skip
    return out + [points[-2]]


# Digits as a hand writes them: strokes through points of a unit cell (x right, y down), slanted when drawn.
DIGITS = {
    "0": [[(0.5, 0), (0.1, 0.3), (0.15, 0.85), (0.55, 1), (0.9, 0.6), (0.8, 0.1), (0.5, 0)]],
    "1": [[(0.25, 0.25), (0.6, 0), (0.55, 1)]],
    "2": [[(0.1, 0.25), (0.5, 0), (0.85, 0.3), (0.1, 1), (0.9, 0.98)]],
    "3": [[(0.1, 0.1), (0.8, 0.1), (0.4, 0.45), (0.85, 0.7), (0.45, 1), (0.1, 0.85)]],
    "4": [[(0.7, 1), (0.65, 0), (0.05, 0.7), (0.95, 0.68)]],
    "5": [[(0.85, 0), (0.2, 0.05), (0.15, 0.45), (0.75, 0.5), (0.8, 0.9), (0.15, 0.95)]],
    "6": [[(0.75, 0), (0.2, 0.45), (0.25, 0.95), (0.8, 0.85), (0.7, 0.5), (0.2, 0.6)]],
    "7": [[(0.1, 0.05), (0.9, 0.05), (0.35, 1)]],
    "8": [[(0.5, 0.5), (0.15, 0.2), (0.5, 0), (0.85, 0.2), (0.15, 0.8), (0.5, 1), (0.85, 0.8), (0.5, 0.5)]],
    "9": [[(0.8, 0.4), (0.2, 0.35), (0.35, 0), (0.8, 0.1), (0.75, 1)]],
}


def draw_handwriting(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """One of: ticks beside the line items, the total circled, a file number, or initials and a signature."""
    s, pen, jitter = page.style.size, rng.choice(PENS), np.random.default_rng(rng.getrandbits(32))
    kind = rng.choice(("ticks", "circle", "number", "signature"))
    width = max(2, round(s / 8))

    def patch_of(strokes: list[list[tuple[float, float]]], pad: float = 6) -> tuple[Image.Image, float, float]:
        xs = [x for stroke in strokes for x, _ in stroke]
        ys = [y for stroke in strokes for _, y in stroke]
        left, top = min(xs) - pad, min(ys) - pad
        patch = Image.new("RGBA", (round(max(xs) - left + pad), round(max(ys) - top + pad)), (0, 0, 0, 0))
        draw = ImageDraw.Draw(patch)
        for stroke in strokes:
            draw.line([(x - left, y - top) for x, y in _curve(stroke)], fill=pen + (230,), width=width, joint="curve")
        return patch, left, top

    def wobble(points, amount):
        return [(x + jitter.normal(0, amount), y + jitter.normal(0, amount)) for x, y in points]

    if kind == "ticks":
        amounts = [
            box for name, (_, box) in page.fields.items() if name.startswith("line_items.") and name.endswith(".amount")
        ]
        placed = 0
        for box in amounts:
            h = box[3] - box[1]
            tick = [wobble([(0, h * 0.5), (h * 0.35, h), (h * 1.1, -h * 0.2)], h * 0.05)]
            patch, left, top = patch_of(tick)
            beside = [(box[2] + s * 0.4 + left, box[1] + top), (box[0] - s * 0.4 - patch.width, box[1] + top)]
            placed += _place(page, patch, beside) is not None
        return placed > 0
    if kind == "circle" and "total" in page.fields:
        x0, y0, x1, y1 = page.fields["total"][1]
        cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.75 + s, (y1 - y0) * 0.9 + s * 0.6
        start = rng.uniform(0, math.tau)
        ring = [(cx + a * math.cos(start + t) * (1 + 0.03 * k), cy + b * math.sin(start + t))
                for k, t in enumerate(np.linspace(0, math.tau * 1.1, 14))]  # fmt: skip
        patch, left, top = patch_of([wobble(ring, s * 0.08)])
        return _place(page, patch, [(left, top)]) is not None
    if kind == "number":
        digits = f"{rng.randrange(10, 99999)}"
        h, strokes = s * rng.uniform(1.2, 1.8), []
        slant = rng.uniform(0.1, 0.3)
        for i, digit in enumerate(digits):
            for stroke in DIGITS[digit]:
                strokes.append(
                    wobble([(i * h * 0.7 + x * h * 0.55 + (1 - y) * h * slant, y * h) for x, y in stroke], h * 0.03)
                )
        patch, _, _ = patch_of(strokes)
        return _place(page, patch, _spots(page, rng, patch.size)) is not None
    # initials and a signature: a looping scribble with a flourish under it
    h, x, points = s * rng.uniform(1.5, 2.2), 0.0, []
    for _ in range(rng.randint(5, 9)):
        x += h * rng.uniform(0.25, 0.5)
        points.append((x, h * rng.uniform(0, 0.4) if len(points) % 2 else h * rng.uniform(0.7, 1.0)))
    flourish = [(points[0][0], h * 1.15), (x * 0.6, h * 1.25), (x * 1.1, h * 1.0)]
    patch, _, _ = patch_of([wobble(points, h * 0.05), wobble(flourish, h * 0.04)])
    return _place(page, patch, _spots(page, rng, patch.size)) is not None


def draw_highlighter(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """A translucent marker stroke over a value someone wanted to find again (it hides nothing: not opaque)."""
    names = [n for n in ("total", "invoice_number", "due_date", "date", "issue_date") if n in page.fields]
    if not names:
        return False
    x0, y0, x1, y1 = page.fields[rng.choice(names)][1]
    pad = (y1 - y0) * 0.35
    box = (max(0, round(x0 - pad * 2)), max(0, round(y0 - pad)), min(page.width, round(x1 + pad * 2)),
           min(page.height, round(y1 + pad)))  # fmt: skip
    region = page.image.crop(box)
    mark = Image.new("RGB", region.size, rng.choice(HIGHLIGHTERS))
    page.image.paste(ImageChops.multiply(region, mark), box[:2])
    return True


def draw_punch_holes(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """Two filing holes, 80 mm apart, in the left margin, dark where the scanner's lid shows through."""
    radius, x = round(page.width * 0.014), page.width * rng.uniform(0.025, 0.04)
    patch = Image.new("RGBA", (2 * radius, round(page.width * 0.38) + 2 * radius), (0, 0, 0, 0))
    draw, shade = ImageDraw.Draw(patch), rng.choice([(30, 30, 32), (70, 70, 70), (235, 235, 235)])
    for top in (0, patch.height - 2 * radius):
        draw.ellipse((0, top, 2 * radius - 1, top + 2 * radius - 1), fill=shade + (255,), outline=(120, 120, 120, 255))
    y = page.height / 2 - patch.height / 2 + rng.uniform(-10, 10)
    return _place(page, patch, [(x - radius, y), (x - radius, y - 40), (x - radius, y + 40)]) is not None


def draw_staple(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """A staple in the top-left corner: a short metal bar, askew, with the dents beside it."""
    length, angle = page.width * rng.uniform(0.05, 0.07), math.radians(rng.uniform(-55, -25))
    patch = Image.new("RGBA", (round(length) + 12, round(length) + 12), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    cx = cy = patch.width / 2
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(90, 90, 95, 255), width=6)
    draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(190, 190, 198, 255), width=2)
    corner = page.width * 0.01
    return _place(page, patch, [(corner + k * 6, corner + k * 6) for k in range(4)]) is not None


def draw_bleed_through(page: Page, doc: dict, rng: random.Random, locale: str) -> bool:
    """The back of the sheet showing through: its print mirrored, blurred and faint (translucent: hides nothing)."""
    back = page.image.convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    back = back.transform(back.size, Image.Transform.AFFINE, (1, 0, 0, 0, 1, rng.uniform(-0.3, 0.3) * page.height),
                          fillcolor=255).filter(ImageFilter.BoxBlur(1.5))  # fmt: skip
    strength = rng.uniform(0.05, 0.1)
    faint = back.point(lambda v: round(255 - (255 - v) * strength)).convert("RGB")
    page.image.paste(ImageChops.multiply(page.image, faint))
    return True


DRAW = {
    "stamp": draw_stamp,
    "handwriting": draw_handwriting,
    "highlighter": draw_highlighter,
    "punch-holes": draw_punch_holes,
    "staple": draw_staple,
    "bleed-through": draw_bleed_through,
}
