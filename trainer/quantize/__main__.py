"""python -m trainer.quantize --model BASE [--adapter ADAPTER] --methods merged,int8,nf4,torchao-int8 --output-dir models/NAME [--keep-modules visual,projector,lm_head] [--eval-dataset DATA --eval-limit N] [--calibration-dataset DATA] [--smoothing 0.5] [--max-regression 1.0] [--force] [--push-to-hub USER/REPO]

Deployment variants of a fine-tuned PaddleOCR-VL, each in its own folder under --output-dir with a model card of
what was measured here: size, peak memory, decoding tokens/s at batch 1 and 8 and, with --eval-dataset, accuracy
against the reference (the merged model, or --model when there is no adapter) with paired bootstrap intervals and
the share of documents read identically. A variant whose field accuracy falls more than --max-regression points
below the reference's is not pushed (--force pushes it anyway). --push-to-hub USER/REPO pushes each variant to
USER/REPO-METHOD in one commit; offline, it stops with one line and leaves the staged folders as they are.

The variants vLLM serves (`w8a8-int8`, `fp8-dynamic`: run this from the serving environment, make serve-setup) are
read and measured with vLLM, and gated against the reference as vLLM reads it. They are smoothed first (SmoothQuant,
--smoothing) by the model's activations on the train split of --calibration-dataset (default: --eval-dataset's).
Those and the merged model are published only once vLLM has loaded them and read pages (with --eval-dataset, the
gate's; else one generated page), with the files a server needs complete.
"""

import importlib.util
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from huggingface_hub import ModelCard
from transformers import AutoTokenizer, HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data.pages import PageError, read_pages
from trainer.errors import InputError, PushError, first_line
from trainer.eval.run import ReadingArguments, evaluate_split, load_split, read_predictions
from trainer.eval.scores import paired_bootstrap
from trainer.folders import claim
from trainer.inference import load_reader
from trainer.publish import push_folder
from trainer.quiet import known_noise_silenced
from trainer.vllm_engine import INT8_SATURATES, int8_saturates

from .card import SHOWN, write_variant_card
from .measure import machine, measure_in_child
from .variants import (
    KEEP_MODULES,
    METHODS,
    QUANTIZED,
    SERVED,
    folder_bytes,
    folder_problems,
    module_patterns,
    quantize_model,
    weight_bytes,
)


@dataclass
class QuantizeArguments:
    model: str = field(
        metadata={"help": "The fine-tuned model, or the base model an --adapter goes on: Hub id or folder."}
    )
    output_dir: str = field(
        metadata={"help": "Folder for one subfolder per variant, the evaluations and summary.json."}
    )
    adapter: str | None = field(default=None, metadata={"help": "PEFT adapter folder, merged into --model first."})
    methods: str | None = field(
        default=None,
        metadata={"help": f"Comma-separated, of {', '.join(METHODS)}; default merged,{','.join(QUANTIZED)} ({','.join(QUANTIZED)} without an adapter). {' and '.join(SERVED)} are for vLLM, from the serving environment."},
    )  # fmt: skip
    keep_modules: str = field(
        default=",".join(KEEP_MODULES),
        metadata={"help": "Modules left unquantised, by name; leaving out lm_head quantises it and the embeddings."},
    )
    calibration_dataset: str | None = field(
        default=None,
        metadata={"help": f"Documents whose train split calibrates {' and '.join(SERVED)}: their activations on them "
                          "smooth the model first (SmoothQuant). Hub id or folder; default the --eval-dataset."},
    )  # fmt: skip
    calibration_samples: int = field(default=32, metadata={"help": "Calibration documents read (the first N)."})
    smoothing: float = field(
        default=0.5,
        metadata={"help": "SmoothQuant's migration strength (0 to 1) for the vLLM variants: how much of the "
                          "activations' range moves into the weights; 0 turns smoothing off."},
    )  # fmt: skip
    max_regression: float = field(
        default=1.0, metadata={"help": "Most points of field accuracy a pushed variant may lose to the reference."}
    )
    force: bool = field(default=False, metadata={"help": "Push variants the accuracy gate refused."})
    push_to_hub: str | None = field(
        default=None, metadata={"help": "USER/REPO: each variant goes to USER/REPO-METHOD."}
    )
    private: bool = field(default=False, metadata={"help": "Create the Hub repos private."})
    overwrite: bool = field(default=False, metadata={"help": "Replace what trainer.quantize wrote into output_dir."})
    resume: bool = field(default=False, metadata={"help": "Keep the variants and readings already in output_dir."})

    def __post_init__(self):
        if not self.method_list():
            raise InputError(f"--methods names no method: choose from {', '.join(METHODS)}")
        if unknown := set(self.method_list()) - set(METHODS):
            raise InputError(f"unknown --methods {', '.join(sorted(unknown))}: choose from {', '.join(METHODS)}")
        if "merged" in self.method_list() and self.adapter is None:
            raise InputError("--methods merged needs --adapter: without one, --model is already a whole model")
        if not 0 <= self.smoothing <= 1 or self.calibration_samples < 1:
            raise InputError(f"--smoothing is in [0, 1] and --calibration-samples ≥ 1, got {self.smoothing}, "
                             f"{self.calibration_samples}")  # fmt: skip
        if not math.isfinite(self.max_regression):
            raise InputError(f"--max-regression must be a number of points, got {self.max_regression}")
        if self.push_to_hub is not None and self.push_to_hub.count("/") != 1:
            raise InputError(f"--push-to-hub takes USER/REPO, got {self.push_to_hub!r}")

    def method_list(self) -> list[str]:
        if self.methods is None:
            return ["merged", *QUANTIZED] if self.adapter else list(QUANTIZED)
        return list(dict.fromkeys(name.strip() for name in self.methods.split(",") if name.strip()))

    def kept(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.keep_modules.split(",") if name.strip())


def build(args: QuantizeArguments, output_dir: Path, calibration: list | None) -> tuple[Path, dict[str, Path]]:
    """(the reference model's folder, each variant's folder). With an adapter, the merged model is written first
    (as `merged`, or as `reference` when it is not asked for) and every quantisation is made from it; without one,
    from --model. With --resume, a variant folder already there is kept: each is moved in whole when written."""

    def write(folder: Path, method: str, source: str, adapter: str | None = None) -> Path:
        if not (args.resume and (folder / "config.json").is_file()):
            print(f"{method}: writing {folder}")
            quantize_model(source, folder, method, adapter, args.kept(), calibration, args.smoothing)
        return folder

    methods = args.method_list()
    if args.adapter is not None:
        reference = write(output_dir / ("merged" if "merged" in methods else "reference"), "merged", args.model,
                          args.adapter)  # fmt: skip
    else:
        reference = local_folder(args.model)
    folders = {
        method: reference if method == "merged" else write(output_dir / method, method, str(reference))
        for method in methods
    }
    return reference, folders


def calibration_documents(args: QuantizeArguments, reading: ReadingArguments) -> tuple[list | None, dict | None]:
    """(the pages of each calibration document, what the cards say of them), or (None, None) where no variant vLLM
    serves is asked for, smoothing is off, or no calibration dataset is given (nor a --eval-dataset of FinScribe's
    form to take the train split of)."""
    source = args.calibration_dataset or (reading.dataset if reading.format == "finscribe" else None)
    if args.smoothing == 0 or source is None or not set(args.method_list()) & set(SERVED):
        return None, None
    try:
        rows = load_split(source, "train", args.calibration_samples)
    except InputError as error:
        raise InputError(f"calibration: {error}; name another with --calibration-dataset, or --smoothing 0") from None
    documents = []
    for row in rows:
        try:
            documents.append(read_pages(row, reading.max_pixels))
        except PageError as error:
            print(f"calibration leaves out document {row['id']}: {error}")
    if not documents:
        raise InputError(f"calibration: no readable document in {source}'s train split")
    return documents, {"dataset": source, "split": "train", "documents": len(documents), "strength": args.smoothing}


def local_folder(model: str) -> Path:
    """The folder a model is read from: itself, or its snapshot in the Hub cache (downloaded if need be)."""
    if Path(model).is_dir():
        return Path(model)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model))
    except Exception as error:  # offline, no such repo, no access
        raise InputError(f"model {model!r} not found: {first_line(error)}") from None


def engine_for(method: str, reading: ReadingArguments) -> str:
    """The engine a variant is read with: vLLM for the ones only vLLM serves, else the one asked for."""
    return "vllm" if method in SERVED else reading.engine


def reference_folder(output_dir: Path, engine: str, reading: ReadingArguments) -> Path:
    """Where the reference's readings by `engine` go: `eval/reference` for --engine's, `eval/reference-vllm` beside."""
    return output_dir / "eval" / ("reference" if engine == reading.engine else f"reference-{engine}")


def evaluate(
    args: QuantizeArguments, reading: ReadingArguments, output_dir: Path, reference: Path, folders: dict[str, Path]
) -> dict[str, dict]:
    """Each variant's accuracy against the reference on the same documents, both read by the variant's engine: both
    models' metrics, the paired differences with their intervals, and the share of documents read identically; under
    `reference`, the reference's own metrics (as --engine reads it)."""
    readings = {}  # engine -> the reference's metrics, scores and outputs

    def reference_read(engine: str):
        if engine not in readings:
            print(f"reference: reading {reading.dataset} with {reference} ({engine})")
            folder = reference_folder(output_dir, engine, reading)
            metrics, scores = evaluate_split(
                replace(reading, engine=engine), folder, str(reference), resume=args.resume
            )
            readings[engine] = metrics, scores, read_predictions(folder / "predictions.jsonl")
        return readings[engine]

    reference_metrics, reference_scores, _ = reference_read(reading.engine)
    read = {"dataset": reading.dataset, "split": reading.split, "n": len(reference_scores)}
    results = {"reference": read | {"variant": {key: reference_metrics[key] for key in SHOWN}}}
    results |= {"merged": results["reference"]} if "merged" in folders else {}  # `merged` is the reference itself
    for method, folder in folders.items():
        if method == "merged":
            continue
        if method == "w8a8-int8" and int8_saturates():
            print(f"{method}: not read here: {INT8_SATURATES}")
            continue
        engine = engine_for(method, reading)
        base_metrics, base_scores, base_outputs = reference_read(engine)
        print(f"{method}: reading {reading.dataset} ({engine})")
        metrics, scores = evaluate_split(replace(reading, engine=engine), output_dir / "eval" / method, str(folder),
                                         resume=args.resume)  # fmt: skip
        outputs = read_predictions(output_dir / "eval" / method / "predictions.jsonl")
        ids = list(base_scores)  # the same documents, in the same order
        same = [
            (base_outputs[i]["output"], base_outputs[i].get("table_output"))
            == (outputs[i]["output"], outputs[i].get("table_output"))
            for i in ids
        ]
        results[method] = read | {
            "engine": engine, "reference": {key: base_metrics[key] for key in SHOWN},
            "variant": {key: metrics[key] for key in SHOWN},
            "difference": paired_bootstrap([base_scores[i] for i in ids], [scores[i] for i in ids]),
            "agreement": sum(same) / len(same),
        }  # fmt: skip
    return results


def vllm_checks(reading: ReadingArguments, output_dir: Path, folders: dict[str, Path]) -> dict[str, dict]:
    """For the merged model and each variant vLLM serves: whether vLLM loaded it and read pages ({"passed": True,
    False, or None where vLLM is not installed here; "detail"}). The gate's vLLM readings count when there are
    some; otherwise vLLM reads one generated page here."""
    checks = {}
    for method, folder in folders.items():
        if method != "merged" and method not in SERVED:
            continue
        if problems := folder_problems(folder):
            checks[method] = {"passed": False, "detail": "; ".join(problems)}
            continue
        if method == "w8a8-int8" and int8_saturates():
            checks[method] = {"passed": False, "detail": f"not read here: {INT8_SATURATES}"}
            continue
        read_by_gate = (
            output_dir / "eval" / method if method in SERVED else reference_folder(output_dir, "vllm", reading)
        )
        gate = read_by_gate / "predictions.jsonl"
        if gate.is_file():
            outputs = [record["output"] for record in read_predictions(gate).values()]
        elif importlib.util.find_spec("vllm") is None:
            checks[method] = {"passed": None, "detail": "not checked: vLLM is not installed here (make serve-setup)"}
            continue
        else:
            print(f"{method}: reading a generated page with vLLM")
            outputs = read_generated_page(reading, folder)
        special = AutoTokenizer.from_pretrained(folder).all_special_tokens
        read = sum(bool(without(output, special).strip()) for output in outputs)
        checks[method] = {"passed": read > 0, "detail": f"vLLM read {read} of {len(outputs)} pages to an answer"}
    return checks


def without(text: str, tokens: list[str]) -> str:
    """`text` with every occurrence of `tokens` taken out: an answer of special tokens alone (`<unk><unk>...`, what
    a model read with wrong weights or scales gives) is no answer."""
    for token in tokens:
        text = text.replace(token, "")
    return text


def read_generated_page(reading: ReadingArguments, folder: Path) -> list[str]:
    """vLLM's reading of one generated invoice page, as the variant's users would send it; a model vLLM cannot load
    reads as nothing."""
    from trainer.data.pages import read_page
    from trainer.synth.generate import DOC_TYPES, make_sample
    from trainer.synth.locales import COUNTRIES

    page = read_page(make_sample(0, 0, tuple(DOC_TYPES), tuple(COUNTRIES))["image"], reading.max_pixels)
    try:
        reader = load_reader(replace(reading, engine="vllm", batch_size=1), str(folder))
    except (RuntimeError, ValueError) as error:  # vLLM's engine failing to start or to load the weights
        print(f"vLLM could not read {folder}: {first_line(error)}")
        return []
    try:
        return reader.read([page], max_new_tokens=reading.max_new_tokens)
    finally:
        reader.close()


def refusal(accuracy: dict | None, max_regression: float, check: dict | None = None) -> str | None:
    """Why the gate keeps a variant off the Hub, or None: vLLM's check (of a model for vLLM) not passed, or field
    accuracy more than `max_regression` points below the reference's."""
    if check is not None and not check["passed"]:
        return f"vLLM's check: {check['detail']}"
    if accuracy is None or "difference" not in accuracy:
        return None
    drop = -100 * accuracy["difference"]["field_accuracy"]["value"]
    if drop > max_regression:
        return (f"field accuracy {100 * accuracy['variant']['field_accuracy']:.1f} % is {drop:.1f} points below the "
                f"reference's {100 * accuracy['reference']['field_accuracy']:.1f} % (more than --max-regression "
                f"{max_regression:g})")  # fmt: skip
    return None


def describe(folder: Path, method: str, args: QuantizeArguments, engine: str | None = None) -> dict:
    """What the card says of one model folder: its quantisation as loaded and measured in a process of its own, by
    `engine` (by default vLLM for the variants it serves, else transformers)."""
    config = json.loads((folder / "config.json").read_text())
    speed = measure_in_child(folder, engine=engine or ("vllm" if method in SERVED else "transformers"))
    compiled = measure_in_child(folder, compiled=True) if method == "torchao-int8" else None
    quantized = speed.pop("quantized_modules")
    if compiled:
        compiled.pop("quantized_modules")
    return {
        "method": method, "folder": str(folder), "quantization": config.get("quantization_config"),
        "quantized": quantized, "quantized_patterns": module_patterns(quantized),
        "kept": list(args.kept()) if quantized else [], "dtype": speed["dtype"],
        "size": folder_bytes(folder), "weight_bytes": weight_bytes(folder), "speed": speed, "compiled": compiled,
    }  # fmt: skip


def hub_id(model: str) -> str | None:
    """The Hub id a card's `base_model` can name for `model`: itself when it is not a local folder, else what the
    folder's own card says it came from (sft's card names the base model), else None."""
    if not Path(model).exists():
        return model
    card = Path(model) / "README.md"
    return ModelCard.load(card).data.base_model if card.is_file() else None


def write_cards(
    args: QuantizeArguments,
    reference: Path,
    folders: dict[str, Path],
    accuracy: dict,
    checks: dict[str, dict],
    calibrated: dict | None = None,
) -> dict:
    """Describe and measure every variant (and the reference), write each card, and return the summary."""
    described = {method: describe(path, method, args) for method, path in folders.items()}
    reference_info = described.get("merged") or describe(reference, "reference", args)
    reference_info = reference_info | {
        "name": "the merged model" if args.adapter else "the original model", "accuracy": accuracy.get("reference"),
    }  # fmt: skip
    # vLLM's variants are set beside the reference as vLLM reads it.
    served_reference = None
    if set(folders) & set(SERVED):
        served_reference = reference_info | {"speed": describe(reference, "reference", args, "vllm")["speed"]}
    # The quantisations' base_model: the merged repo when it is pushed too, else the model they were made from.
    source = f"{args.push_to_hub}-merged" if args.push_to_hub and "merged" in folders else hub_id(args.model)
    variants = {}
    for method, path in folders.items():
        merged = method == "merged"
        variant = described[method] | {
            "name": f"{args.push_to_hub}-{method}" if args.push_to_hub else path.name,
            "source": args.model if merged or not args.adapter else str(reference),
            "base_model": hub_id(args.model) if merged else source, "adapter": args.adapter if merged else None,
            "accuracy": accuracy.get(method), "vllm_check": checks.get(method),
            "smoothing": calibrated if method in SERVED else None,
            "refused": refusal(accuracy.get(method), args.max_regression, checks.get(method)),
        }  # fmt: skip
        beside = None if merged else served_reference if method in SERVED else reference_info
        write_variant_card(path, variant, beside, machine())
        variants[method] = variant
    summary = {"machine": machine(), "reference": {**reference_info, "folder": str(reference)}, "variants": variants}
    return summary | ({"reference_speed_vllm": served_reference["speed"]} if served_reference else {})


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        # The accuracy gate reads --eval-dataset as trainer.evaluate reads --dataset: ReadingArguments' flags.
        args, reading = HfArgumentParser((QuantizeArguments, ReadingArguments)).parse_args_into_dataclasses(argv)
        if reading.limit is not None and reading.dataset is None:
            raise InputError("--eval-limit needs --eval-dataset")
    output_dir = Path(args.output_dir)
    kept = f"finished variants are kept; continue with --resume --output-dir {output_dir}"
    folder = claim(output_dir, "trainer.quantize", overwrite=args.overwrite, resume=args.resume,
                   inputs=[args.model, args.adapter, reading.dataset])  # fmt: skip
    with known_noise_silenced(), one_line_errors(interrupted=kept), folder:
        calibration, calibrated = calibration_documents(args, reading)
        reference, folders = build(args, output_dir, calibration)
        accuracy = evaluate(args, reading, output_dir, reference, folders) if reading.dataset else {}
        checks = vllm_checks(reading, output_dir, folders)
        summary = write_cards(args, reference, folders, accuracy, checks, calibrated)
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    if args.push_to_hub:
        with one_line_errors():
            push(args, summary["variants"])


def push(args: QuantizeArguments, variants: dict[str, dict]):
    """Each variant to USER/REPO-METHOD in one commit; one the gate refused only with --force (said first)."""
    pushed = {}
    for method, variant in variants.items():
        if variant["refused"] and not args.force:
            print(f"{method}: not pushed: {variant['refused']}; --force pushes it anyway")
        else:
            pushed[method] = variant
    for method, variant in pushed.items():
        try:
            url = push_folder(Path(variant["folder"]), f"{args.push_to_hub}-{method}", private=args.private)
        except PushError as error:
            raise PushError(f"{error}; the staged variants in {args.output_dir} are intact") from None
        print(f"{method}: pushed to {url}")


def print_table(summary: dict):
    print(f"\nMeasured on {summary['machine']}:")
    print("variant | size MiB | tokens/s b1 | tokens/s b8 | field accuracy | agreement")
    reference = summary["reference"]
    rows = [("reference", reference)] + list(summary["variants"].items())
    for name, info in rows:
        speed, accuracy = info.get("speed") or {}, info.get("accuracy") or {}
        size = f"{info['size'] / 2**20:.1f}" if info.get("size") else "-"
        field_accuracy = f"{100 * accuracy['variant']['field_accuracy']:.1f} %" if accuracy else "-"
        agreement = f"{100 * accuracy['agreement']:.1f} %" if "agreement" in accuracy else "-"
        print(f"{name} | {size} | {speed.get('tokens_per_s_batch_1', '-')} | {speed.get('tokens_per_s_batch_8', '-')} "
              f"| {field_accuracy} | {agreement}")  # fmt: skip


if __name__ == "__main__":
    main()
