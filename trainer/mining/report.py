"""What the mined log says, to look at: report.md, where the errors are (kinds × fields, kinds × layout, locale and
document type) and the worst documents with their wrong fields boxed on the page.

Boxes come from the `fields` column, which the generator fills for synthetic pages (a user's own documents have
none, and show unboxed).
"""

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure  # drawn without pyplot: no backend or global state to set
from PIL import Image, ImageDraw, ImageFont

from trainer.data.pages import open_page
from trainer.eval.fields import generic

from .classify import KINDS
from .log import shard_paths

FIELD_KINDS = ("missing_field", "hallucinated_field", "wrong_numeric", "wrong_date", "wrong_identifier",
               "wrong_text", "format", "regression")  # fmt: skip
GROUPS = ("doc_type", "locale", "layout")
WORST = 8  # documents on the contact sheet
COLUMNS = ["id", "doc_type", "locale", "layout", "errors", "error_kinds", "severity", "field_accuracy", "model"]


def _records(folder: Path) -> list[dict]:
    return [row for path in shard_paths(folder, "all") for row in pq.read_table(path, columns=COLUMNS).to_pylist()]


def _heatmap(axes, counts: dict[tuple[str, str], int], rows: list[str], columns: list[str], title: str):
    grid = np.array([[counts.get((row, column), 0) for column in columns] for row in rows])
    axes.imshow(grid, cmap="Reds", aspect="auto")
    axes.set(xticks=range(len(columns)), yticks=range(len(rows)), title=title)
    axes.set_xticklabels(columns, rotation=60, ha="right", fontsize=8)
    axes.set_yticklabels(rows, fontsize=8)
    for (i, j), value in np.ndenumerate(grid):
        if value:
            axes.text(j, i, str(value), ha="center", va="center", fontsize=7,
                      color="white" if value > grid.max() / 2 else "black")  # fmt: skip


def plot_fields(records: list[dict], path: Path, top: int = 20) -> Path | None:
    """Field-level error kinds × the fields they hit most (line items and taxes folded: `line_items.*.amount`)."""
    counts = Counter((e["kind"], generic(e["path"])) for r in records for e in r["errors"] if e["kind"] in FIELD_KINDS)
    if not counts:
        return None
    totals = Counter()
    for (_, field), count in counts.items():
        totals[field] += count
    fields = [field for field, _ in totals.most_common(top)]
    kinds = [kind for kind in FIELD_KINDS if any(k == kind for k, _ in counts)]
    fig = Figure(figsize=(1.6 + 0.42 * len(fields), 1.4 + 0.35 * len(kinds)), dpi=110)
    _heatmap(fig.subplots(), counts, kinds, fields, "Errors by field (records)")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_groups(records: list[dict], path: Path) -> Path:
    """Error kinds × document type, locale and layout: how many records of each show the kind."""
    kinds = [kind for kind in KINDS if any(kind in r["error_kinds"] for r in records)]
    fig = Figure(figsize=(15, 1.6 + 0.32 * len(kinds)), dpi=110)
    for axes, group in zip(fig.subplots(1, 3, width_ratios=[1, 3, 4]), GROUPS, strict=True):
        values = sorted({r[group] or "unknown" for r in records})
        counts = Counter((kind, r[group] or "unknown") for r in records for kind in r["error_kinds"])
        _heatmap(axes, counts, kinds, values, f"by {group.replace('_', ' ')}")
        if group != GROUPS[0]:
            axes.set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path)
    return path


def most_severe(records: list[dict]) -> list[dict]:
    """The WORST records by severity, then lowest field accuracy."""
    return sorted(records, key=lambda r: (-r["severity"], r["field_accuracy"], r["id"]))[:WORST]


def worst_documents(folder: Path, worst: list[dict], path: Path, thumb: int = 360) -> Path:
    """These records' first pages, the boxes of their wrong fields drawn in red, captioned."""
    wanted = {r["id"] for r in worst}
    pages = {}
    for shard in shard_paths(folder, "all"):
        table = pq.read_table(shard, columns=["id", "image", "fields", "model"], filters=[("id", "in", list(wanted))])
        for row in table.to_pylist():
            pages.setdefault((row["id"], row["model"]), row)
    cell_h, columns = round(thumb * 1.414) + 44, 4
    size = (columns * (thumb + 12) + 12, -(-len(worst) // columns) * (cell_h + 12) + 12)
    sheet = Image.new("RGB", size, (228, 228, 228))
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default(13)
    for i, record in enumerate(worst):
        row = pages[(record["id"], record["model"])]
        page = open_page(row["image"], max_pixels=None)
        wrong = {e["path"] for e in record["errors"] if e["path"]}
        marks = ImageDraw.Draw(page)
        for field in row["fields"] or ():  # the boxes on the first page, the one shown
            if not field.get("page") and any(field["name"] == p or field["name"].startswith(p + ".") for p in wrong):
                marks.rectangle(field["bbox"], outline=(220, 20, 20), width=max(2, page.width // 300))
        page.thumbnail((thumb, cell_h - 44))
        x, y = 12 + (i % columns) * (thumb + 12), 12 + (i // columns) * (cell_h + 12)
        sheet.paste(page, (x + (thumb - page.width) // 2, y))
        kinds = ", ".join(record["error_kinds"][:3]) + ("…" if len(record["error_kinds"]) > 3 else "")
        caption = f"{record['id']} · severity {record['severity']:.0f}\n{kinds}"
        draw.multiline_text((x + thumb / 2, y + cell_h - 40), caption, fill=(30, 30, 30), font=font, anchor="ma",
                            align="center")  # fmt: skip
    sheet.save(path, quality=88)
    return path


def write_report(folder: Path) -> Path:
    """report.md beside the log, with its three pictures, from every record in it."""
    records = _records(folder)
    path = folder / "report.md"
    if not records:  # only unlabelled pages so far: their ranking is in needs_label/label_studio.json
        path.write_text("# Mined errors\n\nNo labelled reading is logged yet (see needs_label/ for pages to label).\n")
        return path
    kinds = Counter(kind for r in records for kind in r["error_kinds"])
    worst = most_severe(records)
    pictures = [
        ("Errors by field", plot_fields(records, folder / "errors_by_field.png")),
        ("Errors by document type, locale and layout", plot_groups(records, folder / "errors_by_group.png")),
        ("The worst documents, wrong fields boxed", worst_documents(folder, worst, folder / "worst_documents.jpg")),
    ]
    lines = [
        "# Mined errors",
        "",
        f"{len(records)} records of {len({r['id'] for r in records})} documents in {len(shard_paths(folder, 'all'))} "
        f"run(s). A record counts once under each kind it shows.",
        "",
        "| kind | records | share |",
        "|---|---|---|",
        *(f"| `{k}` | {kinds[k]} | {kinds[k] / len(records):.0%} |" for k in KINDS if kinds[k]),
        "",
    ]
    for title, picture in pictures:
        if picture is not None:
            lines += [f"## {title}", "", f"![{title}]({picture.name})", ""]
    lines += ["| document | layout | locale | severity | field accuracy | kinds |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['id']} | {r['layout']} | {r['locale']} | {r['severity']:.0f} | {r['field_accuracy']:.0%} | "
        f"{', '.join(r['error_kinds'])} |"
        for r in worst
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
