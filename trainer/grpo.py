"""python -m trainer.grpo --config recipes/<name>.yaml [--flag value ...]

Reinforcement learning on document pages with TRL's GRPOTrainer: each prompt (the same chat turn as `trainer.sft`'s,
drawn from a document dataset with its task mix, with `--mined_dataset` from the mined log too, as trainer.sft replays
it, or with `--unlabelled_pages` from a folder of pages nobody labelled) is answered several times, and each answer
is scored by the rewards of `trainer.rewards`, weighted as `--rewards` says
(`fields=1,arithmetic=0.2,well_formed=0.2,page_text=1,table=1`); an unlabelled page by the label-free ones alone.
It starts from a fine-tuned model (`--model_name_or_path runs/quickstart`), or a base and trainer.sft's adapter
(`--adapter runs/paddleocr-vl-lora`, merged first), with LoRA or full updates, keeps
checkpoints (`--resume_from_checkpoint true`), and stages the model with its processor, a curve of each reward and a
model card, pushed with `--push_to_hub true --hub_model_id USER/REPO`, as `trainer.sft` does.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from trainer.quiet import known_noise_silenced

with known_noise_silenced():
    import trl
    from datasets import Dataset
    from trl import GRPOTrainer, TrlParser

    from trainer.cli import one_line_errors
    from trainer.data.pages import PageError, read_file_pages
    from trainer.data.prompts import Epoch
    from trainer.data.tasks import PROMPTS, user_turn
    from trainer.data.user_files import SUFFIXES
    from trainer.errors import InputError
    from trainer.rewards import REWARDS
    from trainer.sft import (
        ModelConfig,
        ScriptArguments,
        TrainingDefaults,
        document_split,
        load_model,
        load_processor,
        lora_config,
        train_and_stage,
    )

logger = logging.getLogger(__name__)


@dataclass
class GRPOScriptArguments(ScriptArguments):
    rewards: str = field(
        default="fields=1,arithmetic=0.2,well_formed=0.2,page_text=1,table=1",
        metadata={"help": f"Rewards and their weights, name=weight,... of: {', '.join(REWARDS)} (trainer/rewards.py)."},
    )
    adapter: str | None = field(
        default=None,
        metadata={"help": "A PEFT adapter trained on --model_name_or_path (trainer.sft's LoRA), merged into the model "
                          "before GRPO starts."},
    )  # fmt: skip
    unlabelled_pages: str | None = field(
        default=None,
        metadata={"help": "A folder of page files nobody labelled (PNG, JPEG, WebP, TIFF, PDF): extraction prompts "
                          "instead of the dataset's, scored by the label-free rewards alone (arithmetic, well_formed)."},
    )  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        self.weights()  # raises on an unknown reward or weight

    def weights(self) -> dict[str, float]:
        try:
            weights = {
                name.strip(): float(weight) for name, _, weight in (p.partition("=") for p in self.rewards.split(","))
            }
        except ValueError:
            raise InputError(f"--rewards takes name=weight,..., got {self.rewards!r}") from None
        if unknown := set(weights) - set(REWARDS):
            raise InputError(f"unknown rewards {sorted(unknown)}; choose from {', '.join(REWARDS)}")
        return weights


@dataclass
class GRPOConfig(TrainingDefaults, trl.GRPOConfig):
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "False: the rewards read the task and reference columns."}
    )


def count_patches(processor):
    """PaddleOCR-VL's processor, answering TRL's question for InternVL's tiles with its patches. TRL 1.16 takes
    pixel_values of four dimensions and more rows than images for InternVL's tiles and asks the image processor for
    them (`crop_to_patches=True`), which PaddleOCR-VL's refuses; its rows are patches, which TRL then splits by
    image_grid_thw all the same, so the count given is the patches'."""
    images = processor.image_processor
    base = type(images)

    def call(self, images=None, crop_to_patches: bool = False, **kwargs):
        if crop_to_patches:
            return {"num_patches": base.__call__(self, images=images, **kwargs)["image_grid_thw"].prod(-1)}
        return base.__call__(self, images=images, **kwargs)

    images.__class__ = type(base.__name__, (base,), {"__call__": call})
    return processor


def unlabelled_prompts(folder: str, max_pixels: int) -> Dataset:
    """Each page file in `folder` (every page of a PDF or TIFF) as an extraction prompt with no reference, which only
    the label-free rewards score. A file that cannot be read is left out and named."""
    if not Path(folder).is_dir():
        raise InputError(f"--unlabelled_pages {folder} is not a folder")
    rows, skipped = [], []
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in SUFFIXES):
        try:
            pages = read_file_pages(path, max_pixels)
        except PageError as error:
            skipped.append(f"{path.name} ({error})")
            continue
        rows.append({"prompt": [user_turn(len(pages), PROMPTS["extract"])], "images": pages, "task": "extract",
                     "reference": ""})  # fmt: skip
    if skipped:
        logger.warning("Left out %d unreadable page files: %s", len(skipped), "; ".join(skipped[:5]))
    if not rows:
        raise InputError(f"no readable page file in {folder} (PNG, JPEG, WebP, TIFF or PDF)")
    return Dataset.from_list(rows)


def make_trainer(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> GRPOTrainer:
    epoch = Epoch()  # each epoch draws its own tasks, and with --mined_dataset replays the log as trainer.sft does
    if script_args.unlabelled_pages:
        prompts = unlabelled_prompts(script_args.unlabelled_pages, script_args.max_pixels)
    else:
        prompts = document_split(script_args, script_args.dataset_train_split, script_args.max_train_samples,
                                 training_args.seed, epoch, references=True)  # fmt: skip
    weights = script_args.weights()
    training_args.reward_weights = list(weights.values())
    return GRPOTrainer(
        model=load_model(model_args, script_args.adapter),  # where supervised training ended
        reward_funcs=[REWARDS[name] for name in weights],
        args=training_args,
        train_dataset=prompts,
        processing_class=count_patches(load_processor(model_args, script_args)),
        peft_config=lora_config(model_args),
        callbacks=[epoch],
    )


def main(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig):
    train_and_stage("trainer.grpo", make_trainer, script_args, training_args, model_args)


if __name__ == "__main__":
    with one_line_errors(parsing=True):
        arguments = TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig)).parse_args_and_config()
    main(*arguments)
