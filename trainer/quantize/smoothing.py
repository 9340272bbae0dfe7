"""SmoothQuant's smoothing (Xiao et al., 2023) for PaddleOCR-VL's language model, before its int8 activations.

Int8 activations quantised per token lose most where a few input channels of a layer carry values far larger than
the rest: the others are left a few of the 255 steps. Smoothing divides each input channel `j` of a layer by
`s_j = max|X_j| ** strength / max|W_:j| ** (1 - strength)` and multiplies the layer's weight column by it, which
leaves the product unchanged and moves part of the activations' range into the weights, whose int8 scales are set
per output channel. The division is folded into what makes the input: the RMSNorm weight before the attention's
q, k and v and before the MLP's gate and up, and the up projection's rows before the down projection (SiLU(gate) x
up is linear in up). In floating point the smoothed model computes what the model did; only its rounding to int8
changes.

The activations' ranges are measured on pages the model reads: the calibration documents, each read to an answer.
"""

import torch

from trainer.inference import batches, generate


@torch.inference_mode()
def input_ranges(
    model, processor, pages: list, max_new_tokens: int = 128, batch_size: int = 8
) -> dict[str, torch.Tensor]:
    """Each language-model linear layer's largest input magnitude per channel, over `pages` read to an answer."""
    ranges, hooks = {}, []

    def record(name: str):
        def hook(module, args):
            seen = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0).float()
            ranges[name] = torch.maximum(ranges[name], seen) if name in ranges else seen

        return hook

    for name, module in model.model.language_model.named_modules():
        if isinstance(module, torch.nn.Linear):
            hooks.append(module.register_forward_pre_hook(record(name)))
    try:
        for batch in batches(pages, batch_size):
            generate(model, processor, batch, "extract", max_new_tokens)
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


@torch.no_grad()
def smooth(model, ranges: dict[str, torch.Tensor], strength: float = 0.5):
    """Fold the smoothing scales of `ranges` (`input_ranges`) into the language model's weights, in place."""
    for index, layer in enumerate(model.model.language_model.layers):
        attention, mlp = layer.self_attn, layer.mlp
        for before, after, name in (
            (layer.input_layernorm.weight, [attention.q_proj, attention.k_proj, attention.v_proj], "self_attn.q_proj"),
            (layer.post_attention_layernorm.weight, [mlp.gate_proj, mlp.up_proj], "mlp.gate_proj"),
            (mlp.up_proj.weight, [mlp.down_proj], "mlp.down_proj"),
        ):
            activations = ranges[f"layers.{index}.{name}"].clamp(min=1e-5)
            weights = torch.stack([linear.weight.abs().amax(0).float() for linear in after]).amax(0).clamp(min=1e-5)
            scales = (activations**strength / weights ** (1 - strength)).clamp(min=1e-5)
            scales = scales.to(before.dtype)
            before.div_(scales if before.dim() == 1 else scales[:, None])  # a norm's weight, or up's rows
            for linear in after:
                linear.weight.mul_(scales)
