"""Padding-free training (`trainer.sft --padding_free true`): a batch's examples laid end to end in one row, with no
padding token, trained exactly as if each were alone.

TRL's collator tokenises and pads as usual; `pack` takes the padding back out:
- `input_ids`, `labels` and `mm_token_type_ids`: every example's real tokens one after the other, in one row;
- `position_ids` of shape (4, 1, tokens): a text row counting 0, 1, 2 … anew for each example, over the three M-RoPE
  rows (time, height, width) that the model's own `get_rope_index` computes for each example alone. transformers
  reads a restart of the text row as the start of another sequence: SDPA and eager attention get a block-diagonal
  causal mask, flash-attention its variable-length path, so no token attends across examples;
- `pixel_values` and `image_grid_thw` as they were: the vision encoder already keeps each image's patches apart;
- `use_cache=False`: transformers looks for packed sequences only when no cache is kept.
Labels stay -100 on every prompt, and every example starts with its prompt, so no label is predicted across a
boundary (checked for each batch).

The batch's examples are those of a padded batch (`per_device_train_batch_size`): a step costs the tokens its
documents have, not the longest one's length times the batch, and never more memory than the padded step.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from trainer.errors import InputError

PACKED = ("input_ids", "labels", "mm_token_type_ids")  # per-token tensors, laid end to end


@dataclass
class PackingCollator:
    """`collate` (TRL's vision collator: right-padded batches) with each batch packed by `pack`."""

    collate: Callable[[list[dict]], dict]
    rope_index: Callable  # the model's get_rope_index: M-RoPE positions of a padded batch, each example alone

    def __call__(self, examples: list[dict]) -> dict:
        return pack(self.collate(examples), self.rope_index)


def pack(batch: dict, rope_index: Callable) -> dict:
    """The padded batch as one row of its real tokens, with the position ids that keep its examples apart."""
    real = batch["attention_mask"].bool()
    rope, _ = rope_index(
        batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"], image_grid_thw=batch.get("image_grid_thw"),
        attention_mask=batch["attention_mask"],
    )  # fmt: skip
    lengths = real.sum(dim=1).tolist()
    text = torch.cat([torch.arange(length) for length in lengths])
    starts = torch.tensor([0, *lengths[:-1]]).cumsum(0)
    labels = batch["labels"][real]
    if (labels[starts] != -100).any():  # the first token of an example would be predicted from the one before
        raise InputError("an example starts with a trained token: padding-free training needs every example's prompt")
    packed = {key: batch[key][real][None] for key in PACKED if key in batch}
    packed["position_ids"] = torch.cat([text[None].to(rope.device), rope[:, real]])[:, None]
    packed["use_cache"] = False  # with a cache, transformers does not look for packed sequences: all would see all
    return {key: value for key, value in batch.items() if key != "attention_mask"} | packed


def real_tokens(batch: dict) -> int:
    """The tokens of a batch that are no padding: the attention mask's ones, or a packed row's length."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return batch["input_ids"].shape[-1]
