"""Public datasets read where they are, for `trainer.evaluate --format cord|sroie|docile` (and `compare`): each
document's pages and its labels converted on the fly by `trainer.data.importers`, with no build step.

- cord, sroie: a Hub dataset (repo id) or a folder in the Hub's layout (`data/{split}-*.parquet`), Donut style: an
  `image` column and a `ground_truth` JSON string holding `gt_parse` (CORD-v2's classes, or SROIE's four keys).
- docile: a DocILE folder as published: `{split}.json` listing the documents' ids, `annotations/<id>.json`,
  `pdfs/<id>.pdf` (every page of a document read).

A document whose labels cannot be used is rejected with its reason and not scored; what a label gives that has no
place in the schema is listed per document. Both go to the evaluation's labels.jsonl, never guessed.
"""

import json
from pathlib import Path

from datasets import Dataset, List
from datasets import Image as ImageFeature

from trainer.data.document_dataset import load_document_dataset
from trainer.data.user_files import BuildArguments, Reject, labelled, read_file
from trainer.errors import InputError
from trainer.schema.document import canonical_json

FORMATS = ("finscribe", "cord", "sroie", "docile")
# Where each scored field comes from in the public set's own labels: the report names them beside the schema's
PUBLIC_FIELDS = {
    "sroie": {"doc_type": "(every one a receipt)", "merchant.name": "company", "merchant.address": "address", "date": "date", "total": "total"},
    "cord": {
        "doc_type": "(every one a receipt)",
        "line_items.*.description": "menu.nm", "line_items.*.quantity": "menu.cnt",
        "line_items.*.unit_price": "menu.unitprice", "line_items.*.discount": "menu.discountprice",
        "line_items.*.amount": "menu.price (menu.itemsubtotal when discounted)",
        "subtotal": "sub_total.subtotal_price", "discount": "sub_total.discount_price",
        "taxes.*.amount": "sub_total.tax_price", "total": "total.total_price",
    },
    "docile": {
        "doc_type": "(every one an invoice)",
        "invoice_number": "document_id", "issue_date": "date_issue", "due_date": "date_due", "currency": "metadata.currency",
        "vendor.name": "vendor_name", "vendor.address": "vendor_address", "vendor.tax_id": "vendor_tax_id",
        "vendor.email": "vendor_email", "customer.name": "customer_billing_name",
        "customer.address": "customer_billing_address", "total": "amount_total_gross",
        "taxes.*.amount": "amount_total_tax", "payment_terms": "payment_terms",
        "line_items.*.description": "line_item_description", "line_items.*.quantity": "line_item_quantity",
        "line_items.*.unit_price": "line_item_unit_price_gross (or _net)",
        "line_items.*.amount": "line_item_amount_gross (or _net)", "line_items.*.discount": "line_item_discount_amount",
    },
}  # fmt: skip
NAMES = {"cord": "CORD", "sroie": "SROIE", "docile": "DocILE"}


def load_public(dataset: str, split: str, format: str, limit: int | None = None) -> tuple[Dataset, list[dict]]:
    """(the documents to read: id, image, more_pages, ground_truth in FinScribe's schema, pages undecoded; each
    document's labels: {"id", "dropped"} or {"id", "rejected"}), the first `limit` documents of the split."""
    if format == "docile":
        rows, labels = docile_split(Path(dataset), split, limit)
    else:
        rows, labels = donut_split(dataset, split, format, limit)
    if rows is None:
        reasons = "; ".join(sorted({label["rejected"] for label in labels})[:3])
        raise InputError(
            f"no document of {dataset} split {split} has {NAMES[format]} labels FinScribe reads: {reasons}"
        )
    rows = rows.cast_column("image", ImageFeature(decode=False))
    return rows.cast_column("more_pages", List(ImageFeature(decode=False))), labels


def donut_split(dataset: str, split: str, format: str, limit: int | None) -> tuple[Dataset | None, list[dict]]:
    """A Hub-style split: its Parquet files read by path where `dataset` is a folder, else through load_dataset."""
    table = load_document_dataset(dataset, split, needed={"image", "ground_truth"})
    table = table.select(range(min(limit, len(table)))) if limit else table
    ids = (
        [str(i) for i in table["id"]] if "id" in table.column_names else [f"{split}-{n:05d}" for n in range(len(table))]
    )
    kept, truths, labels = [], [], []
    for index, (doc_id, truth) in enumerate(zip(ids, table["ground_truth"], strict=True)):
        try:
            doc, dropped = labelled({"ground_truth": truth}, format, f"row {doc_id}", allow_invalid_arithmetic=True)
        except Reject as reason:
            labels.append({"id": doc_id, "rejected": str(reason)})
            continue
        kept.append(index)
        truths.append(canonical_json(doc))
        labels += [{"id": doc_id, "dropped": dropped}] if dropped else []
    if not kept:
        return None, labels
    table = table.select(kept).select_columns(["image"]).cast_column("image", ImageFeature(decode=False))
    table = table.add_column("id", [ids[i] for i in kept]).add_column("ground_truth", truths)
    return table.add_column("more_pages", [[] for _ in kept], feature=List(ImageFeature(decode=False))), labels


def docile_split(folder: Path, split: str, limit: int | None) -> tuple[Dataset | None, list[dict]]:
    """DocILE's split as published: the ids `{split}.json` lists, each a PDF read whole with its annotation."""
    layout = "DocILE's layout: annotations/, pdfs/, train.json, val.json"
    for part in ("annotations", "pdfs"):
        if not (folder / part).is_dir():
            raise InputError(f"{folder} has no {part}/ folder ({layout})")
    listing = folder / f"{split}.json"
    if not listing.is_file():
        splits = ", ".join(sorted(path.stem for path in folder.glob("*.json"))) or "none"
        raise InputError(f"{folder} has no {split}.json ({layout}); splits there: {splits}")
    try:
        ids = json.loads(listing.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise InputError(f"{listing} is no JSON list of document ids: {error}") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError(f"{listing} is no JSON list of document ids")
    args = BuildArguments(crops_dir=str(folder / "pdfs"), annotations_dir=str(folder / "annotations"), output_dir="",
                          format="docile", allow_invalid_arithmetic=True)  # fmt: skip
    rows, labels, seen = [], [], set()
    for doc_id in ids[:limit] if limit else ids:
        found, rejects, notes = read_file(folder / "pdfs" / f"{doc_id}.pdf", args, seen)
        rows += [{key: row[key] for key in ("id", "image", "more_pages", "ground_truth")} for row in found]
        labels += [{"id": doc_id, "rejected": reject["reason"]} for reject in rejects]
        labels += [{"id": note["sample"], "dropped": note["dropped"]} for note in notes]
    return (Dataset.from_list(rows) if rows else None), labels
