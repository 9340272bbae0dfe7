"""Pages as the model sees them: one decoder for stored bytes, a dataset's image column or a file (PNG, JPEG, WebP,
TIFF, or a PDF), used by training, evaluation, the dataset builder and the comparison alike.

JPEG pages are decoded at reduced scale when the model would shrink them anyway (Pillow's draft mode), a PDF is
rendered at `PDF_DPI`, and an image larger than the pixel limit is refused from its header, before it fills memory.
"""

import io
import math
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from trainer.errors import InputError, first_line

PDF_DPI = 150
MAX_PAGE_PIXELS = 50_000_000  # an A4 page at 600 dpi is 35 Mpixel; bigger is a mistake or a decompression bomb
MIN_SIDE = 28  # one merged 2×2 block of 14-pixel patches: the least PaddleOCR-VL can see


class PageError(InputError):
    """A page that cannot be read: not an image or PDF, damaged, too large or too small."""


def read_bytes(source: bytes | str | Path | dict) -> bytes:
    """The file behind a page: bytes as they are, a path's content, or a dataset image's `bytes` (or its `path`)."""
    if isinstance(source, dict):
        source = source["bytes"] if source.get("bytes") is not None else source["path"]
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise PageError(f"cannot read {source}: {error.strerror or error}") from None


def is_pdf(data: bytes) -> bool:
    return data[:5] == b"%PDF-"


def pdf_pages(data: bytes, max_pixels: int = MAX_PAGE_PIXELS) -> Iterator[Image.Image]:
    """Every page of a PDF as an RGB image at `PDF_DPI`; a page over max_pixels is refused before it is rendered."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise PageError(f"unreadable PDF: {first_line(error)}") from None
    for page in document:
        width, height = (round(side * PDF_DPI / 72) for side in page.get_size())
        _check_size(width, height, max_pixels)
        yield page.render(scale=PDF_DPI / 72).to_pil().convert("RGB")


def open_page(source: bytes | str | Path | dict, max_pixels: int | None = None, limit: int = MAX_PAGE_PIXELS) -> Image.Image:
    """Decode a page (a PDF's first page) as RGB; with max_pixels, let JPEG decoding skip what downscaling drops.

    Draft mode decodes a JPEG at 1/2, 1/4 or 1/8 scale (never below the size asked for), which costs a fraction of a
    full decode: at the tiny model's 50k-pixel budget, most of the work of reading a 1.4-Mpixel page. The page is not
    downscaled here (crops need it whole): `read_page` does both.
    """
    data = read_bytes(source)
    if is_pdf(data):
        return next(pdf_pages(data, limit))
    try:
        image = Image.open(io.BytesIO(data))
        _check_size(image.width, image.height, limit)  # from the header: nothing is decoded yet
        if max_pixels is not None and (scale := shrink_factor(image, max_pixels)) < 1:
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
        return image.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:  # SyntaxError: Pillow's damaged PNG
        raise PageError(f"unreadable image: {first_line(error)}") from None


def read_page(source: bytes | str | Path | dict, max_pixels: int) -> Image.Image:
    """A page downscaled to at most max_pixels, refused when the processor could not cut one patch block from it."""
    page = downscale(open_page(source, max_pixels), max_pixels)
    if min(page.size) < MIN_SIDE:
        raise PageError(f"page is {page.width}×{page.height} pixels, too small to read")
    return page


def downscale(image: Image.Image, max_pixels: int) -> Image.Image:
    """Shrink (never enlarge) to at most max_pixels, keeping the aspect ratio."""
    if (scale := shrink_factor(image, max_pixels)) >= 1:
        return image
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.BICUBIC)


def shrink_factor(image: Image.Image, max_pixels: int) -> float:
    """The factor that brings an image's area down to max_pixels (1 when it already fits)."""
    return min(1.0, math.sqrt(max_pixels / (image.width * image.height)))


def _check_size(width: int, height: int, limit: int):
    if width * height > limit:
        raise PageError(f"oversized page: {width}×{height} is over {limit:,} pixels")
