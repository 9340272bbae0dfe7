"""The model card of a deployment variant: what it is, how it was made, and what `trainer.quantize` measured.

Every figure on the card comes from the `variant` record the command built on the machine the card names; a figure
that was not measured is left out, never estimated.
"""

import json
from datetime import date
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from trainer.packaged import card_template

SHOWN = ("field_accuracy", "numeric_accuracy", "field_f1", "teds", "validation_pass_rate", "json_valid_rate")
SUMMARY = {
    "merged": "A PaddleOCR-VL fine-tune with its LoRA adapter merged into the weights: one model, no PEFT needed.",
    "int8": "An 8-bit (bitsandbytes LLM.int8) quantisation of a PaddleOCR-VL fine-tune.",
    "nf4": "A 4-bit NormalFloat (bitsandbytes) quantisation of a PaddleOCR-VL fine-tune.",
    "torchao-int8": "An int8 weight-only (torchao) quantisation of a PaddleOCR-VL fine-tune, saved as safetensors.",
    "w8a8-int8": "A W8A8 int8 (compressed-tensors) quantisation of a PaddleOCR-VL fine-tune, for serving with vLLM.",
    "fp8-dynamic": "An FP8 (compressed-tensors) quantisation of a PaddleOCR-VL fine-tune, for serving with vLLM.",
}
HOW = {
    "int8": "8-bit weights with one scale per row; at run time, activation outliers (above the threshold) are "
    "multiplied in 16 bits. bitsandbytes made these kernels for training memory, and they are slower than 16 bits "
    "at inference.",
    "nf4": "4-bit NormalFloat weights in blocks of 64, each with its scale, dequantised to the compute dtype on the fly.",
    "torchao-int8": "8-bit weights with one scale per output row, dequantised in the matrix multiply; "
    "`torch.compile` fuses the two.",
    "w8a8-int8": "int8 weights with one scale per output channel, set from the weights; activations quantised to "
    "int8 per token as they come; vLLM multiplies the two in int8.",
    "fp8-dynamic": "float8 (e4m3) weights with one scale per output channel; activations quantised to float8 per "
    "token as they come. vLLM runs it natively on GPUs with FP8 (NVIDIA Ada, Hopper and later).",
}
NEEDS = {"int8": "bitsandbytes", "nf4": "bitsandbytes", "torchao-int8": "torchao", "w8a8-int8": "vllm",
         "fp8-dynamic": "vllm"}  # fmt: skip


def smoothed(calibration: dict | None) -> str:
    """What the card says of SmoothQuant's smoothing before quantisation, where it was done."""
    if calibration is None:
        return ""
    return (f" Before quantising, the language model was smoothed (SmoothQuant, strength {calibration['strength']:g}): "
            f"part of each layer's activation range moved into its weights, by the activations of "
            f"{calibration['documents']} documents of `{calibration['dataset']}` (split `{calibration['split']}`) "
            "read to an answer; in floating point it computes what the model did.")  # fmt: skip


def mib(size: int | None) -> str:
    return f"{size / 2**20:.1f} MiB" if size is not None else "n/a"


def accuracy_rows(accuracy: dict) -> list[dict]:
    """The shown metrics, each with both models' values and the paired difference (variant − reference)."""
    return [
        {
            "metric": key,
            "variant": accuracy["variant"][key],
            "reference": accuracy["reference"][key],
            **accuracy["difference"][key],
        }  # fmt: skip
        for key in SHOWN
        if key in accuracy["difference"] and None not in (accuracy["variant"][key], accuracy["reference"][key])
    ]


def write_variant_card(folder: Path, variant: dict, reference: dict | None, machine: str) -> Path:
    """README.md of one variant folder, with YAML metadata (`base_model`, `base_model_relation`) from `variant`, its
    figures beside the `reference`'s (None: it is the reference)."""
    reference = reference or {}
    method = variant["method"]
    card_data = ModelCardData(
        base_model=variant["base_model"],  # None (left out) for a model that is only a local folder
        base_model_relation="merge" if method == "merged" else "quantized",
        library_name="vllm" if NEEDS.get(method) == "vllm" else "transformers",
        pipeline_tag="image-text-to-text",
        tags=["finscribe", "paddleocr-vl", "document-ai", "invoices", "receipts"]
        + (["merge"] if method == "merged" else ["quantized", NEEDS[method], "4-bit" if method == "nf4" else "8-bit"]),
    )
    accuracy = variant.get("accuracy")
    card = ModelCard.from_template(
        card_data, template_str=card_template("variant_model.md"), name=variant["name"], summary=SUMMARY[method], method=method,
        source=variant["source"], source_on_hub=not Path(variant["source"]).exists(), adapter=variant.get("adapter"),
        needs=NEEDS.get(method), quantization=json.dumps(variant["quantization"], indent=2) if variant["quantization"] else None,
        quantization_text=HOW.get(method) and HOW[method] + smoothed(variant.get("smoothing")), quantized=variant["quantized"], quantized_patterns=variant["quantized_patterns"],
        kept=variant["kept"], dtype=variant["dtype"], machine=machine, date=date.today().isoformat(),
        size=mib(variant["size"]), reference_size=mib(reference.get("size")), reference_name=reference.get("name"),
        language_bytes=mib(variant["weight_bytes"].get("language")),
        reference_language_bytes=mib(reference.get("weight_bytes", {}).get("language")),
        speed=variant.get("speed"), reference_speed=reference.get("speed") or {}, compiled=variant.get("compiled"),
        accuracy=accuracy and {**accuracy, "rows": accuracy_rows(accuracy) if "difference" in accuracy else []},
        served=NEEDS.get(method) == "vllm", vllm_check=variant.get("vllm_check"), refused=variant.get("refused"),
    )  # fmt: skip
    path = folder / "README.md"
    card.save(path)
    return path
