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
"""

from pathlib import Path

from transformers import AutoModelForImageTextToText

from trainer.inference import from_pretrained

from .smoothing import input_ranges, smooth

# method -> (compressed-tensors' preset scheme, the format its weights are saved in)
SCHEMES = {"w8a8-int8": ("INT8", "int-quantized"), "fp8-dynamic": ("FP8_DYNAMIC", "float-quantized")}


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
    return output_path
