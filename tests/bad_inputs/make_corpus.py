"""python tests/bad_inputs/make_corpus.py FOLDER

Write a user's folder at its worst into FOLDER/crops and FOLDER/annotations: every hostile input the dataset builder
has met (giant or broken PDFs, decompression bombs, a 16-bit page, symlinks, FIFOs, a name that is not UTF-8,
annotations nested 100,000 deep or endless) beside good samples that must survive them. The files are generated,
not committed: some are special files, and some would be large.
"""

import io
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.synth.generate import make_sample

GREY, DARK = 0x8000, 0x2000  # the 16-bit page: a dark rectangle on mid-grey, 128 and 32 once scaled to 8 bits


def pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalog), with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def one_page_pdf(side_pt: int, kids: bytes = b"[3 0 R]", count: int = 1) -> bytes:
    """A square page of side_pt points with a line of text: a few hundred bytes whatever the page's size."""
    text = b"BT /F1 12 Tf 72 72 Td (a page of %d points) Tj ET" % side_pt
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>" % (side_pt, side_pt),
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def page_tree_pdf(levels: int) -> bytes:
    """A PDF of 2**levels pages from one page object: each level of its page tree lists the next one twice."""
    trees = [
        b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count %d >>" % (i + 3, i + 3, 2 ** (levels - i)) for i in range(levels)
    ]
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", *trees, b"<< /Type /Page /MediaBox [0 0 612 792] >>"])


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only a header (IHDR, IEND): it claims its size and holds no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")  # fmt: skip


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def make_corpus(folder: Path) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Write the corpus; return the ids the build must keep and, for each file it must reject, the words (any one)
    its reason must contain."""
    crops, notes, elsewhere = folder / "crops", folder / "annotations", folder / "elsewhere"
    for path in (crops, notes, elsewhere):
        path.mkdir(parents=True)
    rows = [make_sample(0, i, ("invoice", "receipt"), ("en_US",)) for i in range(3)]
    docs = [json.loads(row["ground_truth"]) for row in rows]
    pages = [Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB") for row in rows]
    small = pages[0].resize((300, 420))

    def annotate(stem: str, doc: dict | str | bytes = docs[0]):
        data = doc if isinstance(doc, bytes) else (doc if isinstance(doc, str) else json.dumps(doc)).encode()
        (notes / f"{stem}.json").write_bytes(data)

    def add(name: str, data: bytes, doc: dict | str | bytes | None = docs[0]):
        (crops / name).write_bytes(data)
        if doc is not None:
            annotate(name.rsplit(".", 1)[0], doc)

    # Good samples: each must be kept.
    add("good_jpeg.jpg", rows[0]["image"]["bytes"], docs[0])
    add("good_png.png", encoded(pages[1], "PNG"), docs[1])
    add("good_webp.webp", encoded(small, "WEBP"), docs[2])
    grey = np.full((300, 400), GREY, np.uint16)
    grey[100:200, 100:300] = DARK
    add("grey16.png", encoded(Image.fromarray(grey), "PNG"), docs[0])  # 16-bit greyscale: not a white page
    add("tiff_named.png", encoded(small, "TIFF"), docs[1])  # a supported format under another's suffix: read by content
    (elsewhere / "page.png").write_bytes(encoded(small, "PNG"))
    (crops / "linked.png").symlink_to(elsewhere / "page.png")  # a symlink to a regular file is read as that file
    annotate("linked", docs[2])
    add("bom.png", encoded(small, "PNG"), b"\xef\xbb\xbf" + json.dumps(docs[1]).encode())  # UTF-8 as Notepad saves it
    resolution = {"resolution": 150.0}  # 150 dpi: rendered back at the page's own size
    add("statement.pdf", encoded(pages[1], "PDF", save_all=True, append_images=[pages[2]], **resolution), None)
    annotate("statement_p1", docs[1])
    annotate("statement_p2", docs[2])
    add("broken_tree.pdf", one_page_pdf(612, kids=b"[3 0 R 9 0 R]", count=2), None)  # page 2 does not exist,
    annotate("broken_tree_p1", docs[0])  # so page 1 alone is kept
    annotate("broken_tree_p2", docs[1])
    good = [
        "good_jpeg",
        "good_png",
        "good_webp",
        "grey16",
        "tiff_named",
        "linked",
        "bom",
        "statement_p1",
        "statement_p2",
    ]
    good.append("broken_tree_p1")

    # PDFs that are tiny files but giant, broken or empty documents.
    add("giant.pdf", one_page_pdf(14_400))  # 14,400 pt: 30,000 × 30,000 pixels at 150 dpi
    add("giant200k.pdf", one_page_pdf(200_000))
    add("no_pages.pdf", pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    add("many_pages.pdf", page_tree_pdf(11))  # 2,048 pages in a 1 kB file
    add("not_really.pdf", b"%PDF-1.4\nnothing else")

    # Images that are not pages.
    add("empty.png", b"")
    add("text.jpg", b"Dear customer, please find attached...\n")
    add("gif_named.png", encoded(small, "GIF"))
    add("bmp_named.jpg", encoded(small, "BMP"))
    add("damaged.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    add("truncated.jpg", rows[0]["image"]["bytes"][: len(rows[0]["image"]["bytes"]) // 2])
    add("tiny.png", encoded(Image.new("RGB", (1, 1), "white"), "PNG"))
    add("sliver.png", encoded(Image.new("RGB", (6000, 28), "white"), "PNG"))  # aspect ratio 214
    add("bomb.png", png_header(100_000, 100_000))

    # Entries of the crops folder that are not files, or whose name is not UTF-8.
    (crops / "dangling.png").symlink_to(folder / "gone.png")
    (crops / "loop.png").symlink_to(crops / "loop.png")
    (crops / "to_folder.png").symlink_to(elsewhere)
    (crops / "to_zero.png").symlink_to("/dev/zero")
    (crops / "scans").mkdir()
    os.mkfifo(crops / "pipe.png")
    for stem in ("dangling", "loop", "to_folder", "to_zero", "scans", "pipe"):
        annotate(stem)
    os.mkfifo(crops / "pipe.png.tmp")  # a FIFO without a page's suffix: still listed, never opened
    bad_name = os.fsdecode(b"caf\xe9.png")
    (crops / bad_name).write_bytes(encoded(small, "PNG"))
    (notes / os.fsdecode(b"caf\xe9.json")).write_text(json.dumps(docs[0]))

    # Good pages whose annotations are hostile.
    page = encoded(small, "PNG")
    add("deep.png", page, "[" * 100_000 + "]" * 100_000)
    add("doc_type_list.png", page, {**docs[0], "doc_type": ["invoice"]})
    add("doc_type_dict.png", page, {**docs[0], "doc_type": {"name": "invoice"}})
    long_quantity = json.loads(json.dumps(docs[0]))
    long_quantity["line_items"][0]["quantity"] = "1" * 31
    add("quantity31.png", page, long_quantity)
    add("latin1.png", page, json.dumps(docs[0]).replace("}", ', "note": "café"}', 1).encode("latin-1"))
    add("not_json.png", page, "total: 12.00 EUR")
    add("big_int.png", page, "1" * 5_000)  # beyond Python's 4,300-digit int conversion limit
    for name in ("note_folder.png", "note_fifo.png", "note_zero.png", "note_huge.png", "unlabelled.png"):
        add(name, page, None)
    (notes / "note_folder.json").mkdir()
    os.mkfifo(notes / "note_fifo.json")
    (notes / "note_zero.json").symlink_to("/dev/zero")
    with open(notes / "note_huge.json", "wb") as f:
        f.truncate(50_000_000)  # sparse: 50 MB on paper, nothing on disk

    rejects = {
        "giant.pdf": ("oversized",),
        "giant200k.pdf": ("oversized",),
        "broken_tree.pdf": ("page 2",),
        "no_pages.pdf": ("no pages",),
        "many_pages.pdf": ("2,048 pages",),
        "not_really.pdf": ("unreadable PDF",),
        "empty.png": ("empty file",),
        "text.jpg": ("not an image or PDF",),
        "gif_named.png": ("GIF, not PNG",),
        "bmp_named.jpg": ("BMP, not JPEG",),
        "damaged.png": ("damaged PNG",),
        "truncated.jpg": ("damaged JPEG",),
        "tiny.png": ("too small",),
        "sliver.png": ("aspect ratio",),
        "bomb.png": ("oversized",),
        "dangling.png": ("dangling symlink",),
        "loop.png": ("symlink loop",),
        "to_folder.png": ("folder",),
        "to_zero.png": ("device",),
        "scans": ("folder",),
        "pipe.png": ("FIFO",),
        "pipe.png.tmp": ("FIFO",),
        "caf\\xe9.png": ("UTF-8",),
        "deep.png": ("nested",),
        "doc_type_list.png": ("doc_type", "validated"),  # "validated": until the schema reports it as a violation
        "doc_type_dict.png": ("doc_type", "validated"),
        "quantity31.png": ("quantity", "validated"),
        "latin1.png": ("UTF-8",),
        "not_json.png": ("invalid JSON",),
        "big_int.png": ("invalid JSON",),
        "note_folder.png": ("folder",),
        "note_fifo.png": ("FIFO",),
        "note_zero.png": ("device",),
        "note_huge.png": ("over 10 MB",),
        "unlabelled.png": ("no annotation",),
    }
    return good, rejects


if __name__ == "__main__":
    good, rejects = make_corpus(Path(sys.argv[1]))
    print(f"{len(good)} good samples, {len(rejects)} files to reject, in {sys.argv[1]}")
