"""Document datasets → TRL prompt-completion examples, lazily, with each document's task drawn anew every epoch.

Nothing is copied: `with_transform` turns rows into examples when the trainer reads them, so pages stay in the
Parquet files until a batch needs them. A row's task (and region crop) is drawn from (seed, id, epoch) alone: the
mix holds in every epoch, every document teaches every task over a run, and a resumed or distributed run draws
exactly what an uninterrupted one does.
"""

import bisect
import itertools
import json
import random

from datasets import Dataset, List
from datasets import Image as ImageFeature
from transformers import TrainerCallback
from trl.data_utils import apply_chat_template

from trainer.errors import InputError
from trainer.schema.document import canonical_json, read_document

from .pages import MIN_SIDE, PageError, downscale, open_page, page_size, row_pages, scaled_size
from .tasks import PROMPTS, TARGETS, compact, draw_fields, extract_prompt, fields_of, select, user_turn

MIN_PIXELS = MIN_SIDE * MIN_SIDE  # one merged 2×2 block of 14-pixel patches: the least PaddleOCR-VL can see
REGIONS = {  # region crop → the top-level keys whose values it shows
    "header": None,  # everything that is neither line items nor totals
    "line_items": ("line_items",),
    "totals": ("subtotal", "discount", "taxes", "shipping", "rounding", "total"),
}
NEEDED = {"image", "id", "fields", *TARGETS.values()}
GOLDEN = (
    (5**0.5 - 1) / 2
)  # the step that spreads any number of points most evenly around a circle  # what training reads (crops read the field boxes)


class Epoch(TrainerCallback):
    """The trainer's current epoch, for the training transform: set before each epoch's dataloader starts (and so
    before its workers fork, which copy it), and after a resume the epoch being resumed."""

    value = 0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.value = int(state.epoch)  # Trainer sets epoch + step / steps_in_epoch: a whole number between epochs


def parse_task_mix(text: str) -> dict[str, float]:
    """`extract=0.6,table=0.2,ocr=0.2` → weights; unknown tasks and non-positive totals are refused."""
    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        task, _, weight = part.partition("=")
        if task not in PROMPTS:
            raise InputError(f"unknown task {task!r} in task mix; choose from {', '.join(PROMPTS)}")
        try:
            mix[task] = float(weight or 1)
        except ValueError:
            raise InputError(f"task mix {text!r}: weight {weight!r} of {task} is not a number") from None
    if not mix or sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise InputError(f"task mix {text!r} needs at least one task with a positive weight")
    return mix


def draw_task(
    seed: int, doc_id: str, epoch: int, task_mix: dict[str, float], crop_share: float
) -> tuple[str, str | None]:
    """(task, region or None) of one document in one epoch: a function of (seed, id, epoch) and the settings alone.

    A document's place in the mix starts at a random point of [0, 1) and steps by the golden ratio each epoch (a
    Weyl sequence), and the task is the mix's share that the point falls in. Over documents the points are uniform
    in every epoch, so each epoch's tasks follow the mix; over epochs a document's points spread evenly, so it
    visits every task in proportion: any share above 0.62 (extraction's 0.7 by default) within every two epochs.
    Crops walk their own sequence, so a cropped document is shown whole in other epochs.
    """
    rng = random.Random(f"{seed}:{doc_id}")
    task_start, crop_start = rng.random(), rng.random()
    bounds = list(itertools.accumulate(task_mix.values()))
    point = (task_start + epoch * GOLDEN) % 1 * bounds[-1]
    task = list(task_mix)[min(bisect.bisect_right(bounds, point), len(bounds) - 1)]  # the share the point falls in
    if task != "extract" or (crop_start + epoch * GOLDEN) % 1 >= crop_share:
        return task, None
    return task, random.Random(f"{seed}:{doc_id}:{epoch}").choice(list(REGIONS))


def draw_example(
    row: dict, seed: int, epoch: int, task_mix: dict[str, float], crop_share: float, subset_share: float
) -> tuple[str, str, str, tuple[str, ...] | None]:
    """(task, prompt, answer, shown) of a document's training example in an epoch, before any page is read: `shown`
    names the top-level keys whose fields' boxes a region crop of the page shows, or is None for the whole pages.

    Extraction asks a partial document for the fields it labels, a region crop for the fields it shows, and a
    complete document for all of them or (in `subset_share` of documents and epochs) a drawn subset
    (`tasks.draw_fields`).
    """
    task, region = draw_task(seed, row["id"], epoch, task_mix, crop_share)
    if not row[TARGETS[task]]:  # a user's document has no page text: teach what its label does say
        task, region = "extract", None
    if task != "extract":
        return task, PROMPTS[task], row[TARGETS[task]], None
    doc = json.loads(canonical_json(read_document(row[TARGETS[task]])))  # canonical key order (a v1 label upgraded)
    if region is not None and row["fields"] and not row.get("more_pages"):  # crops need the boxes, on one page
        shown = region_keys(doc, region)
        doc = {key: doc[key] for key in doc if key in shown}
        return task, extract_prompt(fields_of(doc)), compact(doc), shown
    fields = draw_fields(seed, row["id"], epoch, doc, subset_share)
    return task, extract_prompt(fields), compact(select(doc, fields) if fields else doc), None


def region_keys(doc: dict, region: str) -> tuple[str, ...]:
    """The document's top-level keys whose values a region crop shows."""
    return REGIONS[region] or tuple(k for k in doc if not any(k in (v or ()) for v in REGIONS.values()))


def region_box(size: tuple[int, int], fields: list[dict], keys: tuple[str, ...], margin: int = 12) -> tuple[int, ...]:
    """The box (left, top, right, bottom) around the boxes of the fields under `keys`, within a page of `size`."""
    boxes = [f["bbox"] for f in fields if f["name"].split(".")[0] in keys]
    x0, y0 = min(b[0] for b in boxes) - margin, min(b[1] for b in boxes) - margin
    x1, y1 = max(b[2] for b in boxes) + margin, max(b[3] for b in boxes) + margin
    return max(0, x0), max(0, y0), min(size[0], x1), min(size[1], y1)


def to_prompt_completion(
    dataset: Dataset, task_mix: dict[str, float], max_pixels: int, seed: int = 0, crop_share: float = 0.0,
    epoch: Epoch | None = None, subset_share: float = 0.0, references: bool = False,
) -> Dataset:  # fmt: skip
    """The same rows as TRL prompt-completion chat examples with an `images` column, computed on access; with
    `references`, prompts for reinforcement learning instead: `prompt`, `images`, and the `task` and the answer's
    text (`reference`) that `trainer.rewards` score a generated answer against.

    With `epoch` (a callback the trainer updates), each epoch draws its own tasks (`draw_example`); without it,
    every access draws epoch 0's, which is what evaluation wants: the same examples at every evaluation.
    """
    if max_pixels < MIN_PIXELS:
        raise InputError(
            f"max_pixels {max_pixels} is below one 28×28 patch block ({MIN_PIXELS}); PaddleOCR-VL would see nothing"
        )
    epoch = epoch or Epoch()

    def example(row: dict) -> dict:
        task, prompt, target, shown = draw_example(row, seed, epoch.value, task_mix, crop_share, subset_share)
        try:  # a crop is cut from the page at full size
            pages = [open_page(page, None if shown else max_pixels) for page in row_pages(row)]
        except PageError as error:  # stop here: the same document would stop a resumed run too
            raise PageError(f"document {row['id']} cannot be trained on: {error}; remove it from the dataset") from None
        if shown:
            pages = [pages[0].crop(region_box(pages[0].size, row["fields"], shown))]
        images = [downscale(page, max_pixels) for page in pages]  # every page, in one prompt
        if references:
            return {"prompt": [user_turn(len(images), prompt)], "images": images, "task": task, "reference": target}
        return {
            "prompt": [user_turn(len(images), prompt)],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": target}]}],
            "images": images,
        }

    columns = ("prompt", "images", "task", "reference") if references else ("prompt", "completion", "images")

    def transform(batch: dict) -> dict:
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        examples = [example(row) for row in rows]
        return {key: [e[key] for e in examples] for key in columns}

    dataset = dataset.cast_column("image", ImageFeature(decode=False))  # decoded in `example`
    if "more_pages" in dataset.column_names:
        dataset = dataset.cast_column("more_pages", List(ImageFeature(decode=False)))
    return dataset.with_transform(transform)


def example_lengths(
    dataset: Dataset, processor, epoch: int, task_mix: dict[str, float], max_pixels: int, seed: int = 0,
    crop_share: float = 0.0, subset_share: float = 0.0,
) -> list[int]:  # fmt: skip
    """The tokens of each document's training example in `epoch` (as `to_prompt_completion` draws it with the same
    settings), counted as TRL's collator counts them, from the pages' headers: nothing is decoded."""
    images = processor.image_processor

    def image_tokens(size: tuple[int, int]) -> int:
        return images.get_number_of_image_patches(size[1], size[0], {}) // images.merge_size**2

    columns = [
        name for name in ("id", "image", "more_pages", "fields", *TARGETS.values()) if name in dataset.column_names
    ]
    chats, seen = [], []  # each example's chat, and its pages' image tokens and count
    for row in dataset.select_columns(columns):
        _, prompt, answer, shown = draw_example(row, seed, epoch, task_mix, crop_share, subset_share)
        if shown:
            left, top, right, bottom = region_box(page_size(row["image"]), row["fields"], shown)
            sizes = [scaled_size((right - left, bottom - top), max_pixels)]
        else:
            sizes = [page_size(page, max_pixels) for page in row_pages(row)]
        chats.append({"prompt": [user_turn(len(sizes), prompt)],
                      "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]})  # fmt: skip
        seen.append((sum(map(image_tokens, sizes)), len(sizes)))
    texts = [apply_chat_template(chat, processor) for chat in chats]
    prompts = processor.tokenizer([text["prompt"] for text in texts], add_special_tokens=False)["input_ids"]
    answers = processor.tokenizer([text["completion"] for text in texts], add_special_tokens=False)["input_ids"]
    # each page is one image token in the text, which the processor repeats as often as the page has image tokens
    return [len(p) + len(a) + tokens - pages for p, a, (tokens, pages) in zip(prompts, answers, seen, strict=True)]
