"""Generated raster logos: a shape in the accent colour with the firm's initials, or the initials beside it.

Real headers carry a logo above or beside the firm's name; these give the model the same clutter without any
trademark. The initials are drawn as page text (a reader sees them), the shape as pixels.
"""

import math
import random

from .page import Page, tint

SHAPES = ("rounded", "circle", "diamond", "hexagon", "ring", "bars", "leaf")


def initials(name: str) -> str:
    words = [w for w in name.replace(",", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or name[:1]


def draw_logo(page: Page, x: float, y: float, size: float, name: str, rng: random.Random, color=None) -> float:
    """A `size`-pixel logo with its top-left corner at (x, y); return its right edge. Where the shape is solid the
    initials sit on it in white; an outline shape holds them in its colour."""
    color = color or page.style.accent
    shape, draw, box = rng.choice(SHAPES), page.draw, (x, y, x + size, y + size)
    cx, cy, r = x + size / 2, y + size / 2, size / 2
    solid = True
    if shape == "rounded":
        draw.rounded_rectangle(box, size / 6, fill=color)
    elif shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "diamond":
        draw.polygon([(cx, y), (x + size, cy), (cx, y + size), (x, cy)], fill=color)
    elif shape == "hexagon":
        draw.polygon([(cx + r * math.cos(math.pi / 3 * k), cy + r * math.sin(math.pi / 3 * k)) for k in range(6)],
                     fill=color)  # fmt: skip
    elif shape == "ring":
        draw.ellipse(box, outline=color, width=max(3, round(size / 10)))
        solid = False
    elif shape == "bars":  # three rising bars, the initials beside them
        for k in range(3):
            top = y + size * (0.55 - 0.22 * k)
            draw.rectangle(
                (x + k * size / 3, top, x + (k + 0.75) * size / 3, y + size), fill=(color, tint(color, 0.6))[k % 2]
            )
        page.block()
        right = page.text((x + size + size / 6, cy), initials(name), size / page.style.size * 0.5, bold=True,
                          fill=color, anchor="lm")[2]  # fmt: skip
        page.block()
        return right
    else:  # leaf: a quarter-rounded square
        draw.rounded_rectangle(box, size / 2, fill=color, corners=(True, False, True, False))
    page.block()
    scale = size / page.style.size * (0.42 if shape in ("diamond", "ring") else 0.5)
    page.text((cx, cy), initials(name), scale, bold=True, fill=(255, 255, 255) if solid else color, anchor="mm")
    page.block()
    return x + size
