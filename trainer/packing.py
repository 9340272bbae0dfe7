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

A batch's examples are those of a padded batch (`per_device_train_batch_size`), or with `tokens_per_batch` as many
whole examples as fit in that many tokens (`TokenBudgetSampler`): a step costs the tokens its documents have, not
the longest one's length times the batch, and by a budget never more than the budget, whatever the documents.
"""

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers.trainer_pt_utils import BatchRebalanceSampler

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


class TokenBudgetSampler(BatchRebalanceSampler):
    """Training batches of whole examples, at most `budget` tokens each, by each epoch's own example lengths (the
    tasks drawn change them): an epoch's examples in a random order, each batch filled until the next would pass
    the budget. An example longer than the budget is a batch alone, never cut.

    Every epoch has the same number of batches, as transformers' Trainer counts the steps of one epoch for all of
    them: an epoch that fills fewer splits its fullest batches in two until it has as many as the fullest epoch
    (and a distributed run's count is rounded up to a multiple of its processes by repeating its first batches).
    Each process takes every `world_size`-th batch. The epoch is read from the `Epoch` the training transform reads
    when the batches are drawn, so a resumed run draws the same ones.

    (A BatchRebalanceSampler by kind: transformers hands one to the DataLoader as its batch sampler, and leaves the
    split between processes to it.)
    """

    def __init__(self, lengths: Callable[[int], list[int]], budget: int, epoch, seed: int = 0, rank: int = 0,
                 world_size: int = 1, epochs: float = 1.0, max_batches: int = 0):  # fmt: skip
        """`lengths(epoch)`: each example's tokens in that epoch; `epoch`: the transform's `Epoch`; the run's length
        as the Trainer takes it: `max_batches` a process trains (max_steps × accumulation) where above 0, else
        `epochs`."""
        self.epoch, self.rank, self.world_size = epoch, rank, world_size
        epochs_lengths = [lengths(0)]
        plans = [fill(epochs_lengths[0], budget, seed)]
        if max_batches > 0:  # as many epochs as the first one's batches take, or fewer: no later one has fewer
            epochs = max_batches / math.ceil(len(plans[0]) / world_size)
        for index in range(1, math.ceil(epochs)):
            epochs_lengths.append(lengths(index))
            plans.append(fill(epochs_lengths[index], budget, seed + index))
        count = max(map(len, plans))
        self.plans = [split(plan, each, count) for plan, each in zip(plans, epochs_lengths, strict=True)]
        self.count = math.ceil(count / world_size) * world_size
        self.alone = sum(length > budget for length in epochs_lengths[0])  # examples trained alone, in epoch 0

    def set_epoch(self, epoch: int):  # the batches follow the training transform's epoch, read when they are drawn
        pass

    def __len__(self) -> int:
        return self.count // self.world_size

    def __iter__(self):
        plan = self.plans[self.epoch.value]
        plan = plan + plan[: self.count - len(plan)]  # every process the same number of batches
        return iter(plan[self.rank :: self.world_size])


def fill(lengths: list[int], budget: int, seed: int) -> list[list[int]]:
    """Batches of the examples in a random order, each filled until the next example would pass the budget."""
    batches, batch, tokens = [], [], 0
    for index in torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist():
        if batch and tokens + lengths[index] > budget:
            batches.append(batch)
            batch, tokens = [], 0
        batch.append(index)
        tokens += lengths[index]
    return [*batches, batch] if batch else batches


def split(batches: list[list[int]], lengths: list[int], count: int) -> list[list[int]]:
    """The batches, the one with the most tokens split in two halves of its tokens until there are `count`: there
    is always one of two examples or more to split while the batches are fewer than the examples."""
    batches = list(batches)
    while len(batches) < count:
        index = max(
            (i for i, batch in enumerate(batches) if len(batch) > 1), key=lambda i: sum(lengths[e] for e in batches[i])
        )
        batch = batches[index]
        tokens = list(itertools.accumulate(lengths[e] for e in batch))
        middle = min(max(bisect.bisect_left(tokens, tokens[-1] / 2), 1), len(batch) - 1)
        batches[index : index + 1] = [batch[:middle], batch[middle:]]
    return batches
