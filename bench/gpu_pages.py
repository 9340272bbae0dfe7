"""python bench/gpu_pages.py SOURCE OUTPUT [--documents 48] [--max-pixels 1003520]

A small copy of a document dataset to carry to a lent GPU (bench/gpu_carry.sh): the first N documents of each split,
every page downscaled to the recipes' pixel budget and saved as JPEG, as `read_page` would hand it to the processor.
The model sees the same tokens; what changes is the data loader's decoding, which now starts from smaller files.
"""

import argparse
import io
from pathlib import Path

from datasets import Image, List

from trainer.data.document_dataset import SPLITS, load_document_dataset
from trainer.data.pages import MAX_PIXELS, read_page


def small(page: dict, max_pixels: int) -> dict:
    image = read_page(page, max_pixels)
    data = io.BytesIO()
    image.save(data, "JPEG", quality=85)
    return {"bytes": data.getvalue(), "path": None}


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("source")
    cli.add_argument("output")
    cli.add_argument(
        "--documents", type=int, default=48, help="documents of the train split (an eighth of it for the others)"
    )
    cli.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    args = cli.parse_args()
    for split in SPLITS:
        documents = load_document_dataset(args.source, split, set())
        rows = documents.cast_column("image", Image(decode=False)).cast_column("more_pages", List(Image(decode=False)))
        count = args.documents if split == "train" else max(1, args.documents // 8)
        rows = rows.select(range(min(count, len(rows)))).map(
            lambda row: {
                "image": small(row["image"], args.max_pixels),
                "more_pages": [small(page, args.max_pixels) for page in row["more_pages"]],
            }  # fmt: skip
        )
        target = Path(args.output) / "data" / f"{split}-00000-of-00001.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        rows.cast(documents.features).to_parquet(target)
        print(f"{target}: {len(rows)} documents, {target.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
