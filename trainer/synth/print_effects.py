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
DOT_PITCH = 4  # pixels from one pin's dot to the next


def print_effects(pages: list[Page], layout: str, rng: random.Random):
    """Apply a document's print, by its own chances, to each of its pages (one printer printed them all), recording
    it in the first page's `features`."""
    noise = np.random.default_rng(rng.getrandbits(32))
    if pages[0].style.family in MONOSPACED and layout in DOT_MATRIX_LAYOUTS and rng.random() < DOT_MATRIX:
        effect, name = dot_matrix_print, "print/dot-matrix"
    elif layout.startswith("receipt/") and rng.random() < THERMAL:
        effect, name = thermal_print, "print/thermal"
    else:
        return
    for page in pages:
        effect(page, rng, noise)
    pages[0].features.append(name)


def thermal_print(page: Page, rng: random.Random, noise: np.random.Generator):
    """Ink strength a smooth random field (whole patches faded), times streaks where print-head dots wore out, times
    flecks where the coating flaked off; each pixel moves that far from the paper colour towards its own."""
    h, w = page.height, page.width
    coarse = noise.uniform(FAINTEST, 1.0, (max(2, h // 160), max(2, w // 160)))
    field = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR))
    strength = field.copy()
    for _ in range(rng.randint(1, 5)):  # a worn dot of the head: a pale line down the whole slip
        x, width = rng.randrange(w), rng.randint(1, 3)
        strength[:, x : x + width] = (strength[:, x : x + width] * rng.uniform(0.3, 0.6)).astype(np.uint8)
    flecks = noise.random((h // 2 + 1, w // 2 + 1)) < rng.uniform(0.004, 0.02)
    flecked = np.kron(flecks, np.ones((2, 2), dtype=bool))[:h, :w]
    strength[flecked] = strength[flecked] // 4
    for x0, y0, x1, y1 in page.codes:
        strength[y0:y1, x0:x1] = field[y0:y1, x0:x1]
    np.maximum(strength, round(255 * FAINTEST * 0.5), out=strength)
    paper = Image.new("RGB", page.image.size, page.paper)
    page.image.paste(Image.composite(page.image, paper, Image.fromarray(strength)))


def dot_matrix_print(page: Page, rng: random.Random, noise: np.random.Generator):
    """The glyphs printed by a print head's pins: their ink kept only under a grid of round dots that fade at
    their rims (so each stroke is a row of dots with paper showing between), darker on some lines than others as
    the ribbon wears."""
    pixels = np.asarray(page.image).copy()
    paper = np.mean(page.paper)
    inked = (paper - np.asarray(page.image.convert("L"), dtype=np.int16)) > 0.35 * paper  # which pixels carry ink
    for x0, y0, x1, y1 in page.codes:  # bars print as solid runs of overlapping dots: left as they are
        inked[max(0, y0) : y1, max(0, x0) : x1] = False
    pitch = DOT_PITCH
    yy, xx = np.mgrid[:pitch, :pitch] + 0.5
    distance = np.hypot(yy - pitch / 2, xx - pitch / 2) / (pitch / 2)  # 0 at a dot's centre, 1.41 at the corner
    dot = np.clip(1.25 - distance, 0, 1).astype(np.float32)  # a round dot, full in the middle, fading at its rim
    reps = (page.height // pitch + 1, page.width // pitch + 1)
    wear = np.repeat(noise.uniform(0.65, 0.95, (reps[0], 1)), pitch, axis=0)[: page.height].astype(np.float32)
    alpha = np.tile(dot * 255, reps)[: page.height, : page.width] * wear
    alpha[~inked] = 0
    pixels[inked] = page.paper  # the solid glyphs go; the dots replace them
    ribbon = Image.new("RGB", page.image.size, (30, 30, 40))
    mask = Image.fromarray(np.minimum(alpha * 1.3, 255).astype(np.uint8))
    page.image.paste(Image.composite(ribbon, Image.fromarray(pixels), mask))
