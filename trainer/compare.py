"""python -m trainer.compare --base ID --finetuned DIR_OR_ID [--adapter DIR] (--dataset DIR | --image FILE) --output results.json

Did fine-tuning help? On a dataset, both models are evaluated (into base/ and finetuned/ beside the output) and
every metric's difference gets a paired bootstrap 95 % confidence interval: documents are resampled with
replacement and both models are scored on the same resample. On one image, both outputs are shown with their
validation results and the fields where they differ. `--finetuned` may be an adapter folder (it is loaded on
`--base`), a merged or quantised model, or a model that `--adapter` goes on. `compare_dataset` and `compare_image`
raise `InputError` for what the caller can fix; only `main` turns it into one line.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data.document_dataset import write_atomic
from trainer.data.pages import read_file_pages
from trainer.errors import InputError
from trainer.eval.fields import parse_prediction
from trainer.eval.normalize import values_match
from trainer.eval.report import plot_comparison, write_comparison_report
from trainer.eval.run import ReadingArguments, evaluate_split
from trainer.eval.scores import paired_bootstrap
from trainer.folders import claim
from trainer.inference import load_reader
from trainer.quiet import known_noise_silenced
from trainer.schema.document import get_path, scalar_paths, validate


@dataclass
class CompareArguments:
    base: str = field(metadata={"help": "Base model: Hub id or folder."})
    finetuned: str = field(metadata={"help": "Fine-tuned model, or an adapter folder to load on --base."})
    output: str = field(
        metadata={"help": "results.json to write; the charts and each model's evaluation go beside it."}
    )
    adapter: str | None = field(default=None, metadata={"help": "Adapter folder to load on --finetuned."})
    image: str | None = field(
        default=None, metadata={"help": "One document (PNG, JPEG, WebP, TIFF, or a PDF of up to 8 pages) to read."}
    )
    resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples."})
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap."})

    def __post_init__(self):
        if self.image is not None and not Path(self.image).is_file():
            raise InputError(f"--image {self.image} is not a file")
        if self.resamples < 100:
            raise InputError(f"--resamples must be at least 100 for a 95 % interval, got {self.resamples}")


def finetuned_model(base: str, finetuned: str, adapter: str | None = None) -> tuple[str, str | None]:
    """(model, adapter) of the fine-tuned side: an adapter folder as `finetuned` goes on the base model."""
    if (Path(finetuned) / "adapter_config.json").is_file():
        if adapter is not None:
            raise InputError(f"--finetuned {finetuned} is an adapter already; --adapter cannot go on it")
        return base, finetuned
    return finetuned, adapter


def compare_dataset(
    reading: ReadingArguments, sides: dict[str, tuple[str, str | None]], output: Path, resamples: int = 2000,
    seed: int = 0,
) -> dict:  # fmt: skip
    """Evaluate each side's (model, adapter) into a folder beside `output`; pair their scores by document."""
    folder = output.parent / output.stem
    results, scores = {}, {}
    for side, (model, adapter) in sides.items():
        print(f"{side}: {model}" + (f" + {adapter}" if adapter else ""))
        metrics, scores[side] = evaluate_split(reading, folder / side, model, adapter)
        results[side] = {"model": model, "adapter": adapter, "metrics": metrics}
    ids = list(scores["base"])  # the same documents on both sides, paired by id
    differences = paired_bootstrap(
        [scores["base"][i] for i in ids], [scores["finetuned"][i] for i in ids], resamples, seed
    )
    chart = plot_comparison(
        results["base"]["metrics"], results["finetuned"]["metrics"], differences, folder.with_name(f"{output.stem}.png")
    )
    return {
        "dataset": reading.dataset, "split": reading.split, "n": len(ids), **results,
        "difference": differences,
        "bootstrap": {"resamples": resamples, "seed": seed, "interval": "percentile 95 %, paired by document"},
        "chart": str(chart),
    }  # fmt: skip


def read_image(pages: list, model: str, adapter: str | None, reading: ReadingArguments) -> dict:
    """One model's reading of one document's pages: its output, the parsed JSON and the validator's verdict."""
    reader = load_reader(reading, model, adapter)
    start = time.perf_counter()
    try:
        (output,) = reader.read([pages], "extract", reading.max_new_tokens, [reading.asked(None)])
    finally:
        reader.close()
    parsed = parse_prediction(output)
    return {
        "model": model, "adapter": adapter, "output": output, "parsed": parsed, "json_valid": parsed is not None,
        "violations": validate(parsed) if parsed is not None else ["output is not a JSON object"],
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def compare_image(image: str, sides: dict[str, tuple[str, str | None]], reading: ReadingArguments) -> dict:
    """Both sides' readings of one document (an image, or every page of a PDF) and the fields where they differ."""
    pages = read_file_pages(image, reading.max_pixels)
    readings = {side: read_image(pages, model, adapter, reading) for side, (model, adapter) in sides.items()}
    differ = differing_fields(readings["base"]["parsed"] or {}, readings["finetuned"]["parsed"] or {})
    return {"image": image, **readings, "differing_fields": differ}


def differing_fields(base: dict, tuned: dict) -> list[dict]:
    """The fields, by path, whose values the two readings disagree on (compared as the metrics compare them)."""
    paths = sorted(set(scalar_paths(base)) | set(scalar_paths(tuned)))
    return [
        {"field": path, "base": get_path(base, path), "finetuned": get_path(tuned, path)}
        for path in paths
        if not values_match(path, get_path(base, path), get_path(tuned, path))
    ]


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        reading, args = HfArgumentParser((ReadingArguments, CompareArguments)).parse_args_into_dataclasses(argv)
        if (reading.dataset is None) == (args.image is None):
            raise InputError("give exactly one of --dataset DIR_OR_ID and --image FILE")
        sides = {"base": (args.base, None), "finetuned": finetuned_model(args.base, args.finetuned, args.adapter)}
    output = Path(args.output)
    # The output's folder is claimed, and so checked writable, before either model runs.
    with (
        known_noise_silenced(),
        one_line_errors(interrupted=f"{output} was not written; run the same command again"),
        claim(output.parent, "trainer.compare", reuse=True),
    ):
        if args.image:
            results = compare_image(args.image, sides, reading)
        else:
            results = compare_dataset(reading, sides, output, args.resamples, args.seed)
            report = write_comparison_report(output.with_suffix(".md"), results)
        write_atomic(output, (json.dumps(results, indent=2, ensure_ascii=False) + "\n").encode())
    if args.image:
        for side in sides:
            verdict = "valid" if results[side]["json_valid"] else "invalid"
            print(f"{side}: JSON {verdict}, {len(results[side]['violations'])} violations")
        print(f"{len(results['differing_fields'])} fields differ. Wrote {output}")
    else:
        print("\n" + report.read_text(encoding="utf-8"))
        print(f"Wrote {output}, {report} and {results['chart']}")


if __name__ == "__main__":
    main()
