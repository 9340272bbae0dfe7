"""Pages as the model sees them: one decoder for stored bytes, a dataset's image column or a file (PNG, JPEG, WebP,
TIFF, or a PDF), used by training, evaluation, the dataset builder and the comparison alike.

What a page is, by its content and never its file name: PNG, JPEG, WebP, TIFF or PDF bytes (a TIFF named `.png` is
read as the TIFF it is; a GIF or BMP is refused whatever it is called). One size rule holds at every stage, checked
from the header (or the PDF's page box) before anything is decoded: each side at least `MIN_SIDE` pixels, an aspect
ratio of at most `MAX_ASPECT_RATIO`, and at most the pixel limit. Pixels arrive as a person sees the page: 8-bit RGB,
16-bit and float samples scaled (Pillow's `convert` would clip them to a white page), CMYK converted, transparency
laid on white, and a photo turned upright as its EXIF orientation says. A multi-page TIFF is a document of pages, as a
PDF is. `stored_page` gives what a dataset keeps of a page: the file itself where any viewer shows it as FinScribe
reads it, else the page as decoded, as PNG.

JPEG pages are decoded at reduced scale when the model would shrink them anyway (Pillow's draft mode), a PDF is
rendered at `PDF_DPI` one page at a time, and a page larger than the pixel limit is refused before it fills memory.
"""

import errno
import io
import math
import os
import stat
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import ExifTags, Image, ImageOps

from trainer.errors import InputError, first_line

PDF_DPI = 150
MAX_PAGE_PIXELS = 50_000_000  # an A4 page at 600 dpi is 35 Mpixel; bigger is a mistake or a decompression bomb
# The page size pages are read at: 1,280 of PaddleOCR-VL's merged 28×28-pixel tokens. The commands default to it and
# the recipes set it.
MAX_PIXELS = 1_003_520
MIN_SIDE = 28  # one merged 2×2 block of 14-pixel patches: the least PaddleOCR-VL can see
MAX_DOCUMENT_PAGES = 8  # pages shown in one prompt: each costs its image tokens
TURNED = (5, 6, 7, 8)  # EXIF orientations of a camera held sideways: the page's sides swap when turned upright
MAX_ASPECT_RATIO = 200  # PaddleOCR-VL's image processor (smart_resize) raises on a more extreme page
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "PDF")  # Pillow's names for what the content is
READABLE = "PNG, JPEG, WebP, TIFF or PDF"


class PageError(InputError):
    """A page that cannot be read: not an image or PDF, damaged, too large or too small."""


def not_a_file(path: str | Path) -> str | None:
    """What a path is when it is there but not a regular file (a folder, a FIFO, a device, a dangling symlink...);
    None for a file, or for nothing at all (reading it says so).

    From `os.stat` alone: opening a FIFO blocks until someone writes to it, and /dev/zero never ends.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"a dangling symlink to {os.readlink(path)}" if os.path.islink(path) else None
    except OSError as error:
        return "a symlink loop" if error.errno == errno.ELOOP else error.strerror or str(error)
    if stat.S_ISREG(mode):
        return None
    kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device"
    return f"a symlink to {kind}" if os.path.islink(path) else kind


def read_bytes(source: bytes | str | Path | dict) -> bytes:
    """The file behind a page: bytes as they are, a path's content, or a dataset image's `bytes` (or its `path`)."""
    if isinstance(source, dict):
        source = source["bytes"] if source.get("bytes") is not None else source["path"]
    if isinstance(source, bytes):
        return source
    if (kind := not_a_file(source)) is not None:
        raise PageError(f"cannot read {source}: {kind}, not a file")
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise PageError(f"cannot read {source}: {error.strerror or error}") from None


def is_pdf(data: bytes) -> bool:
    return data[:5] == b"%PDF-"


def page_format(data: bytes) -> str:
    """What the bytes are by their content: "PDF", or Pillow's name of the image format (PNG, JPEG, GIF, BMP...)."""
    return "PDF" if is_pdf(data) else _open_image(data).format


def open_pdf(data: bytes) -> pdfium.PdfDocument:
    """A PDF with at least one page; its pages are only loaded when rendered."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        # PDFium keeps its last error per thread and a failure that sets none leaves an earlier one in place, so a
        # password error is believed only of a PDF that is encrypted (an /Encrypt entry in its trailer).
        if b"/Encrypt" in data:
            raise PageError("encrypted PDF: it needs a password; save it unprotected first") from None
        if error.err_code in (pdfium.raw.FPDF_ERR_SUCCESS, pdfium.raw.FPDF_ERR_PASSWORD):  # parsed, no page tree
            raise PageError("PDF has no pages (or none PDFium can find)") from None
        raise PageError(f"unreadable PDF: {first_line(error)}") from None
    if len(document) == 0:
        raise PageError("PDF has no pages")
    return document


def pdf_page(document: pdfium.PdfDocument, index: int, limit: int = MAX_PAGE_PIXELS) -> Image.Image:
    """One page of a PDF as an RGB image at `PDF_DPI`, refused from its page box before it is rendered."""
    try:
        page = document[index]  # a broken page tree fails here, not when the document opens
        width, height = (round(side * PDF_DPI / 72) for side in page.get_size())
        _check_size(width, height, limit)
        return page.render(scale=PDF_DPI / 72).to_pil().convert("RGB")
    except pdfium.PdfiumError as error:
        raise PageError(f"unreadable PDF: page {index + 1} of {len(document)}: {first_line(error)}") from None


def open_page(
    source: bytes | str | Path | dict, max_pixels: int | None = None, limit: int = MAX_PAGE_PIXELS, index: int = 0
) -> Image.Image:
    """Decode a page (page `index` of a PDF or a multi-page TIFF, by default its first) as RGB; with max_pixels, let
    JPEG decoding skip what downscaling drops.

    Draft mode decodes a JPEG at 1/2, 1/4 or 1/8 scale (never below the size asked for), which costs a fraction of a
    full decode: at the tiny model's 50k-pixel budget, most of the work of reading a 1.4-Mpixel page. The page is not
    downscaled here (crops need it whole): `read_page` does both.
    """
    data = read_bytes(source)
    if is_pdf(data):
        return pdf_page(open_pdf(data), index, limit)
    image = _drafted(data, max_pixels, limit, index)
    try:
        return _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as error:  # SyntaxError: Pillow's damaged PNG
        raise PageError(f"unreadable image: damaged {image.format}: {first_line(error)}") from None


def page_size(source: bytes | str | Path | dict, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of `read_page(source, max_pixels)`, or of `open_page(source)` without max_pixels, from the
    image's header (a PDF's page is rendered): what a page will cost the model, known before it is decoded."""
    data = read_bytes(source)
    if is_pdf(data):
        size = pdf_page(open_pdf(data), 0).size
    else:
        image = _drafted(data, max_pixels)
        size = image.size[::-1] if _orientation(image) in TURNED else image.size
    return size if max_pixels is None else scaled_size(size, max_pixels)


def _drafted(data: bytes, max_pixels: int | None, limit: int = MAX_PAGE_PIXELS, index: int = 0) -> Image.Image:
    """Image page `index` with its header read and checked, and (with max_pixels) a JPEG's draft scale set: its
    size is what decoding will give, before it is decoded."""
    image = _open_image(data)
    if image.format not in FORMATS:
        raise PageError(f"content is {image.format}: pages are {READABLE}")
    try:
        image.seek(index)  # a multi-page TIFF's page (each has its own header)
    except (OSError, EOFError, ValueError) as error:
        raise PageError(f"unreadable image: page {index + 1} of the {image.format}: {first_line(error)}") from None
    _check_size(image.width, image.height, limit)  # from the header: nothing is decoded yet
    try:
        if max_pixels is not None and (scale := shrink_factor(image.size, max_pixels)) < 1:
            image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    except (OSError, SyntaxError, ValueError) as error:
        raise PageError(f"unreadable image: damaged {image.format}: {first_line(error)}") from None
    return image


def page_count(data: bytes) -> int:
    """How many pages a file holds: a PDF's pages, a TIFF's frames, or one."""
    return len(open_pdf(data)) if is_pdf(data) else getattr(_open_image(data), "n_frames", 1)


def stored_page(data: bytes, index: int = 0, limit: int = MAX_PAGE_PIXELS) -> bytes:
    """Page `index` of an image file as a dataset keeps it: the file itself when it is one page that any viewer shows
    as FinScribe reads it (an 8-bit, opaque, upright JPEG, PNG or WebP), else the page as decoded, as PNG, so that
    `datasets`, the Hub's viewer and a notebook see what FinScribe trained on."""
    image = _open_image(data)
    plain = (
        image.format in ("JPEG", "PNG", "WEBP") and image.mode in ("RGB", "L", "P")
        and "transparency" not in image.info and getattr(image, "n_frames", 1) == 1 and _orientation(image) == 1
    )  # fmt: skip
    return data if plain else encode_png(open_page(data, limit=limit, index=index))


def encode_png(page: Image.Image) -> bytes:
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation a camera wrote (1: upright as stored)."""
    return image.getexif().get(ExifTags.Base.Orientation, 1)


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB, as the model sees it and a person does: turned upright as its EXIF says the camera was held,
    high-bit-depth samples scaled down, CMYK converted, transparent parts white like paper."""
    if _orientation(image) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16"):  # 16-bit samples: keep their top 8 bits
        image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8))
    elif image.mode in ("I", "F"):  # 32-bit TIFFs: 0–1 (float), 0–255 or 0–65535 samples, as their values show
        values = np.asarray(image, dtype=np.float32)
        top = values.max(initial=0)
        scale = 255 if image.mode == "F" and top <= 1 else 1 if top <= 255 else 1 / 256
        image = Image.fromarray(np.clip(values * scale, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
    return image.convert("RGB")


def read_page(source: bytes | str | Path | dict, max_pixels: int) -> Image.Image:
    """A page downscaled to at most max_pixels (but no side below `MIN_SIDE`), refused by the one size rule."""
    return downscale(open_page(source, max_pixels), max_pixels)


def row_pages(row: dict) -> list:
    """A dataset row's pages as stored: its `image`, then its `more_pages` (older datasets lack the column)."""
    return [row["image"], *(row.get("more_pages") or [])]


def read_pages(row: dict, max_pixels: int) -> list[Image.Image]:
    """Every page of a dataset row (`row_pages`), each as `read_page` reads it."""
    return [read_page(page, max_pixels) for page in row_pages(row)]


def read_file_pages(source: str | Path, max_pixels: int, max_pages: int = MAX_DOCUMENT_PAGES) -> list[Image.Image]:
    """Every page of one document file, each as `read_page` reads it: an image's one page, or each page of a PDF or
    a multi-page TIFF (refused over max_pages, before any is decoded)."""
    data = read_bytes(source)
    if not is_pdf(data):
        if (count := page_count(data)) > max_pages:
            raise PageError(f"too many pages: the TIFF has {count}, over {max_pages}")
        return [downscale(open_page(data, max_pixels, index=index), max_pixels) for index in range(count)]
    document = open_pdf(data)
    if len(document) > max_pages:
        raise PageError(f"too many pages: the PDF has {len(document)}, over {max_pages}")
    return [downscale(pdf_page(document, index), max_pixels) for index in range(len(document))]


def downscale(image: Image.Image, max_pixels: int) -> Image.Image:
    """Shrink (never enlarge) to at most max_pixels, keeping the aspect ratio, but no side below `MIN_SIDE`: a page
    the size rule lets through stays one the model can read, whatever max_pixels asks."""
    size = scaled_size(image.size, max_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def scaled_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """The (width, height) `downscale` gives an image of `size`."""
    if (scale := shrink_factor(size, max_pixels)) >= 1:
        return size
    width, height = size[0] * scale, size[1] * scale
    # The shorter side rounds up, the longer down (the area may pass max_pixels by a row): the aspect ratio never
    # grows past what the size rule let through.
    size = (math.ceil(width), math.floor(height)) if width <= height else (math.floor(width), math.ceil(height))
    return max(MIN_SIDE, size[0]), max(MIN_SIDE, size[1])


def shrink_factor(size: tuple[int, int], max_pixels: int) -> float:
    """The factor that brings an image's area down to max_pixels (1 when it already fits), or its shorter side down
    to `MIN_SIDE` when that is the larger factor."""
    return min(1.0, max(math.sqrt(max_pixels / (size[0] * size[1])), MIN_SIDE / min(size)))


def _open_image(data: bytes) -> Image.Image:
    """The image with only its header read; PageError saying what the bytes are when Pillow cannot open them."""
    if not data:
        raise PageError("empty file")
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:  # Pillow's own limit, at twice its MAX_IMAGE_PIXELS
        raise PageError(f"oversized page: {error}") from None
    except (OSError, SyntaxError, ValueError):
        Image.init()  # every plugin registered, for their signature checks
        claimed = [name for name in FORMATS[:-1] if Image.OPEN[name][1](data[:16])]
        if claimed:
            raise PageError(f"unreadable image: damaged {claimed[0]} (its header cannot be parsed)") from None
        raise PageError(f"not an image or PDF: starts with {data[:16]!r}") from None


def _check_size(width: int, height: int, limit: int):
    """The one size rule of every stage, from a header or a PDF's page box."""
    if width * height > limit:
        raise PageError(f"oversized page: {width}×{height} is over {limit:,} pixels")
    if min(width, height) < MIN_SIDE:
        raise PageError(f"page too small to read: {width}×{height} pixels, under {MIN_SIDE} on a side")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise PageError(f"page too narrow: {width}×{height} pixels, an aspect ratio over {MAX_ASPECT_RATIO}")
