"""Contact sheets of the generator: one per family of realism features (shape, print, marks, codes, pages). For each
feature, the first generated document of a seed that carries it, whole (its pages side by side), and under it the page
at full size around its total, where the print and the marks show. `python -m trainer.sheets` writes them.
"""

import io
import itertools

from PIL import Image, ImageDraw

from trainer.data.pages import row_pages

from .fonts import font
from .generate import DOC_TYPES, make_sample
from .locales import COUNTRIES

FAMILIES = {
    "shape": ("shape/long-receipt", "shape/flatbed", "photo", "shape/curl", "shape/low-res", "shape/cut-off",
              "shape/fold"),
    "print": ("print/thermal", "print/dot-matrix", "print/inverted-header", "print/letter-spaced"),
    "marks": ("marks/logo", "marks/stamp", "marks/handwriting", "marks/highlighter", "marks/punch-holes",
              "marks/staple", "marks/bleed-through"),
    "codes": ("codes/qr-epc", "codes/qr-bill", "codes/qr-upi", "codes/qr-pix", "codes/ean13", "codes/code128"),
    "pages": ("pages/multi-page", "pages/dense", "pages/fapiao", "pages/mixed-en", "pages/mixed-zh"),
}  # fmt: skip
CELL, PAGE_HEIGHT, DETAIL_HEIGHT, CAPTION = 380, 540, 300, 44


def find_examples(seed: int, max_samples: int) -> dict[str, dict]:
    """The first sample of the seed that carries each feature."""
    wanted = {name for names in FAMILIES.values() for name in names}
    found = {}
    for index in range(max_samples):
        row = make_sample(seed, index, tuple(DOC_TYPES), tuple(COUNTRIES))
        for name in wanted & set(row["augmentations"]) - set(found):
            found[name] = row
        if len(found) == len(wanted):
            break
    return found


def sheet(names: tuple[str, ...], examples: dict[str, dict]) -> Image.Image:
    """A row per feature pair of cells: the whole page, and a full-size detail around the labelled total."""
    shown = [name for name in names if name in examples]
    image = Image.new("RGB", (CELL * len(shown), CAPTION + PAGE_HEIGHT + DETAIL_HEIGHT), (255, 255, 255))
    draw, caption = ImageDraw.Draw(image), font("sans", 15, bold=True)
    for k, name in enumerate(shown):
        row = examples[name]
        pages = [Image.open(io.BytesIO(p["bytes"])).convert("RGB") for p in row_pages(row)]
        x = k * CELL
        draw.text((x + 10, 6), name, font=caption, fill=(20, 20, 20))
        draw.text((x + 10, 24), f"{row['layout']} · {row['locale']}", font=font("sans", 13), fill=(90, 90, 90))
        whole = Image.new("RGB", (sum(p.width for p in pages) + 20 * (len(pages) - 1), max(p.height for p in pages)),
                          (255, 255, 255))  # fmt: skip
        for page, left in zip(pages, itertools.accumulate([0] + [p.width + 20 for p in pages]), strict=False):
            whole.paste(page, (left, 0))
        whole.thumbnail((CELL - 12, PAGE_HEIGHT - 8))
        image.paste(whole, (x + (CELL - whole.width) // 2, CAPTION))
        fields = {f["name"]: f for f in row["fields"]}
        total = fields.get("total") or next(iter(fields.values()), None)
        page = pages[total["page"]] if total else pages[0]
        x0, y0, x1, y1 = total["bbox"] if total else (0, 0, page.width, page.height)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        left, top = max(0, min(page.width - (CELL - 12), cx - (CELL - 12) // 2)), max(0, cy - DETAIL_HEIGHT // 2)
        detail = page.crop((left, top, left + CELL - 12, top + DETAIL_HEIGHT - 8))
        image.paste(detail, (x + 6, CAPTION + PAGE_HEIGHT))
        draw.rectangle((x + 5, CAPTION + PAGE_HEIGHT - 1, x + CELL - 6, CAPTION + PAGE_HEIGHT + DETAIL_HEIGHT - 7),
                       outline=(160, 160, 160))  # fmt: skip
    return image
