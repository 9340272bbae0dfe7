"""How the page was printed: thermal paper's faded, patchy ink with the streaks of a worn print head and broken
glyphs, or a dot-matrix printer's dots.

Both act on the ink alone (the paper stays) and keep every glyph where it was, so the recorded boxes still hold.
The ink never fades below FAINTEST of its strength: a faded slip is still read by people, and so must be by models.
Barcodes and QR codes fade with the rest but keep their modules whole, so that they still scan.
"""

import random

import numpy as np
from PIL import Image

from .fonts import MONOSPACED
from .page import Page

THERMAL = 0.35  # share of receipts printed on worn thermal paper
DOT_MATRIX = 0.4  # share of pages in a monospaced face that a dot-matrix printer printed
DOT_MATRIX_LAYOUTS = ("receipt/thermal", "receipt/columns", "receipt/slip", "invoice/classic", "invoice/minimal",
                      "invoice/din", "invoice/grid")  # fmt: skip  # no solid colour bands: a ribbon prints text
FAINTEST = 0.45


def print_effects(page: Page, layout: str, rng: random.Random):
    """Apply this page's print, by its own chances, recording it in `page.features`."""
    noise = np.random.default_rng(rng.getrandbits(32))
    if page.style.family in MONOSPACED and layout in DOT_MATRIX_LAYOUTS and rng.random() < DOT_MATRIX:
        _dot_matrix(page, rng, noise)
        page.features.append("print/dot-matrix")
    elif layout.startswith("receipt/") and rng.random() < THERMAL:
        _thermal(page, rng, noise)
        page.features.append("print/thermal")


def _thermal(page: Page, rng: random.Random, noise: np.random.Generator):
    """Ink strength a smooth random field (whole patches faded), times streaks where print-head dots wore out, times
    flecks where the coating flaked off; each pixel moves that far from the paper colour towards its own."""
    h, w = page.height, page.width
    coarse = noise.uniform(FAINTEST, 1.0, (max(2, h // 160), max(2, w // 160))).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BILINEAR))
    strength = field.copy()
    for _ in range(rng.randint(1, 5)):  # a worn dot of the head: a pale line down the whole slip
        x, width = rng.randrange(w), rng.randint(1, 3)
        strength[:, x : x + width] *= rng.uniform(0.3, 0.6)
    flecks = noise.random((h // 2 + 1, w // 2 + 1)) < rng.uniform(0.004, 0.02)
    strength[np.kron(flecks, np.ones((2, 2), dtype=bool))[:h, :w]] *= 0.25
    for x0, y0, x1, y1 in page.codes:
        strength[y0:y1, x0:x1] = field[y0:y1, x0:x1]
    _blend(page, np.maximum(strength, FAINTEST * 0.5))


def _dot_matrix(page: Page, rng: random.Random, noise: np.random.Generator):
    """Each glyph redrawn as dots on the print head's grid (about seven dots to a capital), in ribbon ink that is
    darker on some lines than others."""
    gray = np.asarray(page.image.convert("L"), dtype=np.float32)
    paper = float(np.mean(page.paper))
    pitch = max(2, round(page.style.size / 8))
    h, w = (page.height // pitch) * pitch, (page.width // pitch) * pitch
    inked = (paper - gray[:h, :w]) > 0.35 * paper  # which pixels carry ink
    cells = inked.reshape(h // pitch, pitch, w // pitch, pitch).mean(axis=(1, 3)) > 0.12
    yy, xx = np.mgrid[:pitch, :pitch] + 0.5
    dot = (yy - pitch / 2) ** 2 + (xx - pitch / 2) ** 2 <= (pitch * 0.7) ** 2
    dots = np.kron(cells, dot)
    ribbon = np.repeat(noise.uniform(0.55, 0.95, (h // pitch, 1)), pitch, axis=0)  # wear varies line by line
    pixels = np.asarray(page.image).copy()
    for x0, y0, x1, y1 in page.codes:  # a dot-matrix printer prints bars as solid overlapping dots: left as they are
        inked[max(0, y0) : y1, max(0, x0) : x1] = False
    codes = pixels.copy()
    inked_full = (paper - gray) > 0.35 * paper
    region = pixels[:h, :w]
    region[inked_full[:h, :w]] = page.paper  # the solid glyphs go; the dots replace them
    shade = (255 * (1 - ribbon)).astype(np.uint8)[:, :, None].repeat(w, axis=1)
    ink = np.concatenate([shade, shade, np.minimum(255, shade.astype(int) + 12).astype(np.uint8)], axis=2)
    region[dots] = ink[dots]
    pixels[h:][inked_full[h:]] = page.paper
    pixels[:, w:][inked_full[:, w:]] = page.paper
    for x0, y0, x1, y1 in page.codes:
        pixels[y0:y1, x0:x1] = codes[y0:y1, x0:x1]
    _replace(page, pixels)


def _blend(page: Page, strength: np.ndarray):
    pixels = np.asarray(page.image, dtype=np.float32)
    paper = np.array(page.paper, dtype=np.float32)
    _replace(page, (paper + (pixels - paper) * strength[:, :, None]).round().astype(np.uint8))


def _replace(page: Page, pixels: np.ndarray):
    page.image.paste(Image.fromarray(pixels))
