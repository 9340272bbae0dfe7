"""What people look at after an evaluation: report.md, the per-field accuracy chart and the base-vs-fine-tuned chart."""

from collections import Counter
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure  # drawn without pyplot: no backend or global state to set

from trainer.data.public import NAMES, PUBLIC_FIELDS
from trainer.data.user_files import kind, most_common

SUMMARY = {  # metrics.json key → how the report names it
    "field_accuracy": "Field accuracy",
    "field_precision": "Field precision",
    "field_recall": "Field recall",
    "field_f1": "Field F1",
    "anls": "ANLS (soft text match)",
    "numeric_accuracy": "Numeric accuracy (to the cent)",
    "teds": "TEDS (line-item table)",
    "teds_struct": "TEDS-S (structure only)",
    "validation_pass_rate": "Validation pass rate",
    "json_valid_rate": "JSON validity rate (the whole output)",
    "json_found_rate": "JSON found rate (in a fence or prose too)",
    "loop_rate": "Repetition loop rate (lower is better)",
    "ocr_cer": "OCR character error rate (lower is better)",
    "ocr_ned": "OCR normalised edit distance (lower is better)",
    "ocr_cer_unordered": "OCR character error rate, words in any order (lower is better)",
}
LOWER_IS_BETTER = {"loop_rate", "ocr_cer", "ocr_ned", "ocr_cer_unordered"}  # a difference below 0 is a gain
# Each task the model is trained on, by the metric that says how well it does it
TASKS = {"extraction (JSON)": "field_accuracy", "table recognition (OTSL)": "teds", "OCR (page text)": "ocr_cer"}


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def plot_per_field(per_field: dict[str, float], path: Path, title: str | None = None) -> Path:
    """Horizontal bars of accuracy by field, worst at the top, coloured from red (0) to green (1)."""
    names = sorted(per_field, key=lambda name: (per_field[name], name))
    fig = Figure(figsize=(7, 1.2 + 0.24 * len(names)), dpi=110)
    ax = fig.subplots()
    values = [per_field[name] for name in names]
    ax.barh(names, values, color=colormaps["RdYlGn"](values), edgecolor="grey", linewidth=0.5)
    for y, value in enumerate(values):
        ax.text(min(value, 0.88) + 0.01, y, f"{100 * value:.0f}%", va="center", fontsize=7)
    ax.set(xlim=(0, 1), xlabel="accuracy", title=f"Per-field accuracy{f': {title}' if title else ''}")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_report(output_dir: Path, metrics: dict, lines: list[dict], settings: dict, labels: list[dict] = ()) -> Path:
    """report.md: what was run, the summary metrics, every field worst first (accuracy and ANLS, and for a public set
    the field of its own labels each comes from), how a public set's labels were converted, and the weakest
    documents."""
    model = settings["model"] or f"saved predictions {settings['predictions']}"
    if settings["adapter"]:
        model += f" + adapter {settings['adapter']}"
    speed = metrics["seconds_per_document"]
    text = [
        f"# Evaluation: {model}",
        "",
        f"Dataset `{settings['dataset']}`, split `{settings['split']}`: {metrics['n']} documents scored, "
        f"{metrics['errors']} with an error (scored zero). Greedy decoding ({settings.get('engine', 'transformers')}), "
        f"batch {settings['batch_size']}, "
        f"at most {settings['max_new_tokens']} new tokens, pages at most {settings['max_pixels']:,} pixels"
        + (f"; {speed:.3f} s per document." if speed is not None else "."),
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {_percent(metrics[key])} |" for key, name in SUMMARY.items()),
        "",
        "![Per-field accuracy](per_field.png)",
        "",
        "## Fields, worst first",
        "",
        *fields_table(metrics, PUBLIC_FIELDS.get(settings.get("format"))),
        "",
        *labels_section(settings, labels),
        "## Weakest documents",
        "",
        "| id | field accuracy | JSON valid | error |",
        "|---|---|---|---|",
    ]
    weakest = sorted(lines, key=lambda line: line.get("field_accuracy", 0.0))[:10]
    for line in weakest:
        valid = "yes" if line.get("parsed") is not None else "no"
        text.append(
            f"| {line['id']} | {_percent(line.get('field_accuracy', 0.0))} | {valid} | {line.get('error', '')} |"
        )
    path = output_dir / "report.md"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def fields_table(metrics: dict, public: dict[str, str] | None) -> list[str]:
    """Each field's accuracy and ANLS, worst first; for a public set, beside the field of its labels it comes from."""
    head = ["| field | accuracy | ANLS |", "|---|---|---|"]
    if public:
        head = ["| field | public label | accuracy | ANLS |", "|---|---|---|---|"]
    rows = []
    for name, value in sorted(metrics["per_field"].items(), key=lambda kv: kv[1]):
        source = f" {public.get(name, '')} |" if public else ""
        rows.append(f"| `{name}` |{source} {_percent(value)} | {_percent(metrics['per_field_anls'][name])} |")
    return head + rows


def labels_section(settings: dict, labels: list[dict]) -> list[str]:
    """How a public set's labels became FinScribe's: the documents not scored and the label fields left out."""
    if settings.get("format", "finscribe") == "finscribe":
        return []
    rejected = [label for label in labels if "rejected" in label]
    dropped = Counter(kind(d) for label in labels for d in label.get("dropped", ()))
    text = ["## The public labels", "",
            f"{NAMES[settings['format']]} labels converted on the fly to FinScribe's schema (`trainer.data.importers`); "
            "only what maps is scored, nothing is guessed. Each document's conversion is in labels.jsonl.", ""]  # fmt: skip
    text.append(f"- Not scored: {len(rejected)} document{'s' * (len(rejected) != 1)} whose labels FinScribe cannot use"
                + (f" ({most_common(kind(label['rejected']) for label in rejected)})." if rejected else "."))  # fmt: skip
    text.append(f"- Left out of the labels: {sum(dropped.values())} fields with no place in the schema or no single "
                "reading" + (f" ({', '.join(f'{k} ×{n}' for k, n in dropped.most_common(8))})." if dropped else "."))  # fmt: skip
    return [*text, ""]


def plot_comparison(base: dict, finetuned: dict, differences: dict, path: Path) -> Path:
    """Base and fine-tuned side by side per metric, each difference with its 95 % bootstrap interval."""
    keys = [key for key in SUMMARY if key in differences]
    fig = Figure(figsize=(11, 0.9 + 0.45 * len(keys)), dpi=110)
    left, right = fig.subplots(1, 2, sharey=True)
    y = range(len(keys))
    left.barh([i - 0.2 for i in y], [base[k] for k in keys], height=0.4, label="base", color="#9aa5b1")
    left.barh([i + 0.2 for i in y], [finetuned[k] for k in keys], height=0.4, label="fine-tuned", color="#2b7bba")
    top = max(1.0, *(side[k] for side in (base, finetuned) for k in keys))  # an error rate may pass 1
    left.set(yticks=list(y), yticklabels=[SUMMARY[k] for k in keys], xlim=(0, top), title="score")
    left.invert_yaxis()
    left.legend(loc="lower right", fontsize=8)
    deltas = [differences[k] for k in keys]
    errors = [[d["value"] - d["ci_low"] for d in deltas], [d["ci_high"] - d["value"] for d in deltas]]
    better = [-1 if key in LOWER_IS_BETTER else 1 for key in keys]
    colors = [
        "#7f8c8d" if not d["significant"] else "#2e8b57" if sign * d["value"] > 0 else "#c0392b"
        for d, sign in zip(deltas, better, strict=True)
    ]
    right.barh(list(y), [d["value"] for d in deltas], xerr=errors, color=colors, capsize=3)
    right.axvline(0, color="black", linewidth=0.8)
    right.set(title="fine-tuned − base, 95 % paired bootstrap CI")
    for axis in (left, right):
        axis.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def worse(results: dict) -> list[dict]:
    """The tasks (of TASKS, where both models were scored on them) that the fine-tuned model does worse than the
    base, each with its metric's difference; `significant` when the interval excludes no loss."""
    found = []
    for task, key in TASKS.items():
        if (d := results["difference"].get(key)) is not None:
            loss = d["value"] if key in LOWER_IS_BETTER else -d["value"]
            if loss > 0:
                found.append({"task": task, "metric": key, **d})
    return found


def what_it_cost(results: dict) -> list[str]:
    """The report's first lines: each task fine-tuning made worse, or that none got worse, and the tasks not scored."""
    lines = []
    for item in worse(results):
        mark = " ✱" if item["significant"] else " (within the interval's noise)"
        lines.append(f"- **{item['task']} got worse**: {SUMMARY[item['metric']]} {100 * item['value']:+.1f} pt{mark} "
                     f"[{100 * item['ci_low']:+.1f}, {100 * item['ci_high']:+.1f}]")  # fmt: skip
    scored = [task for task, key in TASKS.items() if key in results["difference"]]
    if not lines:
        lines.append(f"Nothing measured got worse: {', '.join(scored)} all held or improved.")
    if unscored := [task for task in TASKS if task not in scored]:
        lines.append(f"Not scored here: {', '.join(unscored)} (no true tables or page text, or turned off).")
    return lines


def write_comparison_report(path: Path, results: dict) -> Path:
    """The base-vs-fine-tuned table: both scores and the difference with its interval, significant ones marked."""
    base, tuned = results["base"], results["finetuned"]

    def name(side: dict) -> str:
        return f"`{side['model']}`" + (f" + adapter `{side['adapter']}`" if side["adapter"] else "")

    text = [
        "# Base vs fine-tuned",
        "",
        f"Base: {name(base)}. Fine-tuned: {name(tuned)}. Dataset `{results['dataset']}`, split `{results['split']}`, "
        f"{results['n']} documents. Differences with paired bootstrap 95 % intervals ({results['bootstrap']['resamples']} "
        "resamples of the documents); ✱ marks an interval that excludes 0.",
        "",
        "## What fine-tuning cost",
        "",
        *what_it_cost(results),
        "",
        "## Every metric",
        "",
        "| metric | base | fine-tuned | difference | 95 % CI |",
        "|---|---|---|---|---|",
    ]
    for key, d in results["difference"].items():
        mark = " ✱" if d["significant"] else ""
        text.append(
            f"| {SUMMARY[key]} | {_percent(base['metrics'][key])} | {_percent(tuned['metrics'][key])} "
            f"| {100 * d['value']:+.1f} pt{mark} | [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] |"
        )
    text += ["", f"![Base vs fine-tuned]({Path(results['chart']).name})", "",
             f"Each model's own report: `{Path(results['chart']).stem}/base/report.md` and `…/finetuned/report.md`."]  # fmt: skip
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path
