"""Variants in the compressed-tensors format, which vLLM serves:

- `w8a8-int8`: int8 weights with one scale per output channel, int8 activations quantised per token as they come;
- `fp8-dynamic`: the same with float8 (e4m3) weights and activations.

The weights' scales are each channel's largest magnitude over the format's largest value (127, or 448 for e4m3),
set from the weights themselves (in float32), and compressed-tensors writes the 8-bit weights and the
`quantization_config` vLLM reads. What is not quantised is the caller's `keep` (`variants.write_served` passes
`--keep-modules`: by default the vision encoder, its projector and the output layer), in the model's own precision:
a bfloat16 model's variant keeps them in bfloat16. Given calibration documents, the language model is smoothed
first (SmoothQuant, `smoothing.py`), so that its int8 activations lose less. It needs compressed-tensors, which the
serving environment holds (make serve-setup).

The kept layers are named in the config (its `ignore`) both as the model names them in memory (model.visual.*), which
is how transformers reads the list, and as the saved files name them (visual.*), which is how vLLM reads it.
"""

import json
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText
from transformers.core_model_loading import revert_weight_conversion

from trainer.inference import from_pretrained

from .smoothing import input_ranges, smooth

# method -> (compressed-tensors' preset scheme, the format its weights are saved in)
SCHEMES = {"w8a8-int8": ("INT8", "int-quantized"), "fp8-dynamic": ("FP8_DYNAMIC", "float-quantized")}
# the layers vLLM fuses into one (its name -> the saved layers it holds)
FUSED = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def write_compressed(
    model_path: str, output_path: str | Path, method: str, keep: list[str], processor=None,
    calibration: list | None = None, smoothing: float = 0.5,
) -> Path:  # fmt: skip
    """The model at `model_path`, its linear layers but those `keep` names (compressed-tensors' `ignore`: names, or
    regexes after `re:`) quantised by `method` (a key of SCHEMES), written to `output_path` (its processor apart).
    With `calibration` documents (their pages), the language model is smoothed first (`smoothing.smooth`, of that
    strength) by the activations `processor`'s prompts give on them."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationConfig,
        QuantizationScheme,
        QuantizationStatus,
        apply_quantization_config,
    )
    from compressed_tensors.quantization.quant_scheme import PRESET_SCHEMES
    from compressed_tensors.quantization.utils import calculate_qparams

    model = from_pretrained(AutoModelForImageTextToText, model_path, dtype="auto").eval()
    if calibration:
        smooth(model, input_ranges(model, processor, calibration), smoothing)
    preset, quantization_format = SCHEMES[method]
    scheme = QuantizationScheme(targets=["Linear"], **PRESET_SCHEMES[preset])
    config = QuantizationConfig(
        config_groups={"group_0": scheme}, ignore=keep, quantization_status=QuantizationStatus.INITIALIZED
    )
    apply_quantization_config(model, config)
    for module in model.modules():
        if (args := getattr(getattr(module, "quantization_scheme", None), "weights", None)) is None:
            continue
        weight = module.weight.data.float()
        scale, zero_point = calculate_qparams(weight.amin(1, keepdim=True), weight.amax(1, keepdim=True), args)
        module.weight_scale.data.copy_(scale.reshape(module.weight_scale.shape))
        module.weight_zero_point.data.copy_(zero_point.reshape(module.weight_zero_point.shape))
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format=quantization_format)
    compressor.compress_model(model)
    output_path = Path(output_path)
    model.save_pretrained(output_path)
    compressor.update_config(str(output_path))
    name_kept_layers_for_vllm(model, output_path)
    return output_path


def name_kept_layers_for_vllm(model, folder: Path) -> None:
    """Adds to the `ignore` list in `folder`'s config the names vLLM gives the layers it lists. compressed-tensors
    lists them by their names in memory (model.visual.…); transformers saves PaddleOCR-VL's weights under the Hub
    checkpoint's names (visual.…), and vLLM matches the list against those, with each attention's q, k and v
    projections (and an MLP's gate and up) fused into one layer (qkv_proj, gate_up_proj) that it cannot trace back
    for this model. Left alone, vLLM builds the vision encoder in int8 and fills it with float weights and no scales."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    kept = config["quantization_config"]["ignore"]
    saved = {key.removesuffix(".weight") for key in revert_weight_conversion(model, {f"{name}.weight": torch.empty(0) for name in kept})}  # fmt: skip
    fused = set()
    for name in saved:
        prefix, _, last = name.rpartition(".")
        fused |= {f"{prefix}.{layer}" for layer, parts in FUSED.items()
                  if last == parts[0] and all(f"{prefix}.{part}" in saved for part in parts)}  # fmt: skip
    config["quantization_config"]["ignore"] = sorted({*kept, *saved, *fused})
    path.write_text(json.dumps(config, indent=2) + "\n")
