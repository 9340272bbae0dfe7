"""Variants in the compressed-tensors format, which vLLM serves: `w8a8-int8`, int8 weights with one scale per output
channel and int8 activations quantised per token as they come (dynamic: no calibration data needed).

The weights' scales are each channel's largest magnitude over 127, set from the weights themselves, and
compressed-tensors writes the int8 weights and the `quantization_config` vLLM reads. The vision encoder, its
projector and the output layer stay in their own precision, as the other variants keep them. It needs
compressed-tensors, which the serving environment holds (make serve-setup).
"""

from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from trainer.inference import from_pretrained

KEEP = ["lm_head", "re:.*visual.*", "re:.*projector.*"]


def write_w8a8_int8(model_path: str, output_path: str | Path, keep: list[str] = KEEP) -> Path:
    """The model at `model_path`, its language model's linear layers in W8A8 int8, written to `output_path`."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationConfig,
        QuantizationScheme,
        QuantizationStatus,
        apply_quantization_config,
    )
    from compressed_tensors.quantization.quant_scheme import INT8_W8A8
    from compressed_tensors.quantization.utils import calculate_qparams

    model = from_pretrained(AutoModelForImageTextToText, model_path, dtype=torch.float32)
    scheme = QuantizationScheme(targets=["Linear"], **INT8_W8A8)
    config = QuantizationConfig(
        config_groups={"group_0": scheme}, ignore=keep, quantization_status=QuantizationStatus.INITIALIZED
    )
    apply_quantization_config(model, config)
    for module in model.modules():
        if (args := getattr(getattr(module, "quantization_scheme", None), "weights", None)) is None:
            continue
        weight = module.weight.data
        scale, zero_point = calculate_qparams(weight.amin(1, keepdim=True), weight.amax(1, keepdim=True), args)
        module.weight_scale.data.copy_(scale.reshape(module.weight_scale.shape))
        module.weight_zero_point.data.copy_(zero_point.reshape(module.weight_zero_point.shape))
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format="int-quantized")
    compressor.compress_model(model)
    output_path = Path(output_path)
    model.save_pretrained(output_path)
    compressor.update_config(str(output_path))
    from_pretrained(AutoProcessor, model_path).save_pretrained(output_path)
    return output_path
