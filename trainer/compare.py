"""python -m trainer.compare --base ID --finetuned DIR_OR_ID [--adapter DIR] (--dataset DIR | --image FILE) --output results.json

Did fine-tuning help? On a dataset, both models are evaluated (trainer.evaluate, into base/ and finetuned/ beside
the output) and every metric's difference gets a paired bootstrap 95 % confidence interval: documents are
resampled with replacement and both models are scored on the same resample. On one image, both outputs are shown
with their validation results and the fields where they differ. `--finetuned` may be an adapter folder (it is
loaded on `--base`), a merged or quantised model, or a model that `--adapter` goes on.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import HfArgumentParser

from trainer.cli import first_line, one_line_errors
from trainer.data.build import Reject, pages
from trainer.eval import COUNTS, METRICS, rates
from trainer.eval.fields import parse_prediction
from trainer.eval.normalize import values_match
from trainer.eval.report import plot_comparison, write_comparison_report
from trainer.evaluate import EvaluateArguments, evaluate
from trainer.inference import generate, load_for_inference
from trainer.schema import get_path, scalar_paths, validate


@dataclass
class CompareArguments:
    base: str = field(metadata={"help": "Base model: Hub id or folder."})
    finetuned: str = field(metadata={"help": "Fine-tuned model, or an adapter folder to load on --base."})
    output: str = field(
        metadata={"help": "results.json to write; the charts and each model's evaluation go beside it."}
    )
    adapter: str | None = field(default=None, metadata={"help": "Adapter folder to load on --finetuned."})
    dataset: str | None = field(default=None, metadata={"help": "Document dataset: Hub id or local folder."})
    image: str | None = field(default=None, metadata={"help": "One page (PNG, JPEG or PDF) to read with both models."})
    split: str = field(default="test", metadata={"help": "Dataset split."})
    limit: int | None = field(default=None, metadata={"help": "Only the first N documents."})
    batch_size: int = field(default=8, metadata={"help": "Documents generated together."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest answer."})
    max_pixels: int = field(default=1003520, metadata={"help": "Pages are downscaled to at most this many pixels."})
    tables: bool = field(default=True, metadata={"help": "Also read the line-item table and compare TEDS."})
    resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples."})
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap."})

    def __post_init__(self):
        if (self.dataset is None) == (self.image is None):
            raise ValueError("give exactly one of --dataset DIR_OR_ID and --image FILE")
        if self.image is not None and not Path(self.image).is_file():
            raise ValueError(f"--image {self.image} is not a file")
        if self.resamples < 100:
            raise ValueError(f"--resamples must be at least 100 for a 95 % interval, got {self.resamples}")

    def finetuned_model(self) -> tuple[str, str | None]:
        """(model, adapter) of the fine-tuned side: an adapter folder as --finetuned goes on the base model."""
        if (Path(self.finetuned) / "adapter_config.json").is_file():
            if self.adapter is not None:
                raise ValueError(f"--finetuned {self.finetuned} is an adapter already; --adapter cannot go on it")
            return self.base, self.finetuned
        return self.finetuned, self.adapter


def paired_bootstrap(base: list[dict], finetuned: list[dict], resamples: int, seed: int) -> dict:
    """Each metric's fine-tuned − base difference with a percentile 95 % interval over document resamples."""
    base_counts = np.array([[score["counts"][key] for key in COUNTS] for score in base], dtype=float)
    tuned_counts = np.array([[score["counts"][key] for key in COUNTS] for score in finetuned], dtype=float)
    n = len(base_counts)
    rng = np.random.default_rng(seed)
    weights = np.zeros((resamples, n))  # how often each document is drawn in each resample
    np.add.at(weights, (np.arange(resamples)[:, None], rng.integers(0, n, size=(resamples, n))), 1)

    def metrics(counts: np.ndarray) -> dict:
        return rates(dict(zip(COUNTS, counts.T, strict=True)))

    point_base, point_tuned = metrics(base_counts.sum(0)), metrics(tuned_counts.sum(0))
    drawn_base, drawn_tuned = metrics(weights @ base_counts), metrics(weights @ tuned_counts)
    differences = {}
    for key in METRICS:
        if key.startswith("teds") and not (base_counts[:, COUNTS.index("tables")].any()):
            continue  # no table was scored
        low, high = np.percentile(drawn_tuned[key] - drawn_base[key], [2.5, 97.5])
        value = float(point_tuned[key] - point_base[key])
        differences[key] = {
            "value": value,
            "ci_low": float(low),
            "ci_high": float(high),
            "significant": bool(low > 0 or high < 0),
        }
    return differences


def compare_dataset(args: CompareArguments, output: Path) -> dict:
    folder = output.parent / output.stem
    results, scores = {}, {}
    for side, (model, adapter) in {"base": (args.base, None), "finetuned": args.finetuned_model()}.items():
        evaluation = EvaluateArguments(
            dataset=args.dataset, output_dir=str(folder / side), model=model, adapter=adapter, split=args.split,
            limit=args.limit, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
            max_pixels=args.max_pixels, tables=args.tables,
        )  # fmt: skip
        print(f"{side}: {model}" + (f" + {adapter}" if adapter else ""))
        metrics, scores[side] = evaluate(evaluation)
        results[side] = {"model": model, "adapter": adapter, "metrics": metrics}
    ids = list(scores["base"])  # the same documents on both sides, paired by id
    differences = paired_bootstrap(
        [scores["base"][i] for i in ids], [scores["finetuned"][i] for i in ids], args.resamples, args.seed
    )
    chart = plot_comparison(
        results["base"]["metrics"], results["finetuned"]["metrics"], differences, folder.with_name(f"{output.stem}.png")
    )
    return {
        "dataset": args.dataset, "split": args.split, "n": len(ids), **results,
        "difference": differences,
        "bootstrap": {"resamples": args.resamples, "seed": args.seed, "interval": "percentile 95 %, paired by document"},
        "chart": str(chart),
    }  # fmt: skip


def read_image(args: CompareArguments, model: str, adapter: str | None, page) -> dict:
    with one_line_errors():
        loaded, processor = load_for_inference(model, adapter)
    start = time.perf_counter()
    (output,) = generate(loaded, processor, [page], "extract", args.max_new_tokens, args.max_pixels)
    parsed = parse_prediction(output)
    return {
        "model": model, "adapter": adapter, "output": output, "parsed": parsed, "json_valid": parsed is not None,
        "violations": validate(parsed) if parsed is not None else ["output is not a JSON object"],
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def compare_image(args: CompareArguments) -> dict:
    with one_line_errors():
        try:
            _, _, page = next(pages(Path(args.image), max_pixels=50_000_000))
        except Reject as error:
            raise ValueError(f"--image {args.image}: {error}") from None
    sides = {
        "base": read_image(args, args.base, None, page),
        "finetuned": read_image(args, *args.finetuned_model(), page),
    }
    differ = differing_fields(sides["base"]["parsed"] or {}, sides["finetuned"]["parsed"] or {})
    return {"image": args.image, **sides, "differing_fields": differ}


def differing_fields(base: dict, tuned: dict) -> list[dict]:
    """The fields, by path, whose values the two readings disagree on (compared as the metrics compare them)."""
    paths = sorted(set(scalar_paths(base)) | set(scalar_paths(tuned)))
    return [
        {"field": path, "base": get_path(base, path), "finetuned": get_path(tuned, path)}
        for path in paths
        if not values_match(path, get_path(base, path), get_path(tuned, path))
    ]


def main(argv: list[str] | None = None):
    with one_line_errors():  # arguments and the output folder; each side's data and model are checked as loaded
        (args,) = HfArgumentParser(CompareArguments).parse_args_into_dataclasses(argv)
        args.finetuned_model()
        output = Path(args.output)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot write to {output.parent}: {first_line(error)}") from None
    results = compare_dataset(args, output) if args.dataset else compare_image(args)
    output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.dataset:
        report = write_comparison_report(output.with_suffix(".md"), results)
        print("\n" + report.read_text(encoding="utf-8"))
        print(f"Wrote {output}, {report} and {results['chart']}")
    else:
        for side in ("base", "finetuned"):
            print(
                f"{side}: JSON {'valid' if results[side]['json_valid'] else 'invalid'}, {len(results[side]['violations'])} violations"
            )
        print(f"{len(results['differing_fields'])} fields differ. Wrote {output}")


if __name__ == "__main__":
    main()
