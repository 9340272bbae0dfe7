"""python -m trainer.sft --config recipes/<name>.yaml [--flag value ...]

Fine-tune PaddleOCR-VL on a FinScribe document dataset with TRL's SFTTrainer: prompt-completion chat examples
(completion-only loss), LoRA/QLoRA through PEFT or a full fine-tune, checkpoints and resume, a training curve,
a model card, and a push of the staged folder to the Hub. Recipe keys are the flag names; flags override them.
"""

import json
import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from trainer.data.pages import MAX_PIXELS
from trainer.quiet import known_noise_silenced

# transformers' Trainer (which the training transform and callbacks import) and TRL import PEFT, which imports
# bitsandbytes, which warns about a CPU kernel FinScribe never uses: imported in the silenced scope.
with known_noise_silenced():
    import torch
    import trl
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
    from trl import SFTTrainer, TrlParser, get_peft_config, get_quantization_config

    from trainer.cli import one_line_errors
    from trainer.data.document_dataset import DEFAULT_DATASET, load_document_dataset
    from trainer.data.pages import PageError, read_pages
    from trainer.data.prompts import MIN_PIXELS, NEEDED, Epoch, example_lengths, parse_task_mix, to_prompt_completion
    from trainer.errors import InputError
    from trainer.eval.callback import FieldAccuracyCallback
    from trainer.eval.run import load_split
    from trainer.folders import claim, main_process
    from trainer.inference import from_pretrained
    from trainer.mining.replay import check_settings, with_replay
    from trainer.packing import PackingCollator, TokenBudgetSampler, real_tokens
    from trainer.publish import push_folder, write_model_card
    from trainer.schema.document import read_document
    from trainer.training_curve import plot_training_curve

logger = logging.getLogger(__name__)
STAGED_ONLY = ("checkpoint-*", "*.pt", "*.pth", "runs/*")  # resume state stays home
# What holds a checkpoint's weights: PEFT, transformers (one file or shards), FSDP's sharded state, DeepSpeed's.
WEIGHTS = ("adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json", "pytorch_model_fsdp_0")
# Linear layers LoRA may adapt, by part of the model (module names of transformers' PaddleOCR-VL).
LORA_SCOPES = {
    "language": r"model\.language_model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)",
    "projector": r"model\.projector\.linear_[12]",
    "vision": r"model\.visual\.vision_model\.encoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|mlp\.fc[12])",
}


@dataclass
class ScriptArguments(trl.ScriptArguments):
    dataset_name: str = field(default=DEFAULT_DATASET, metadata={"help": "Document dataset: Hub id or local folder."})
    task_mix: str = field(default="extract=0.7,table=0.15,ocr=0.15", metadata={"help": "Task weights, task=weight,..."})
    max_pixels: int = field(default=MAX_PIXELS, metadata={"help": "Images are downscaled to at most this many pixels."})
    min_pixels: int = field(default=147384, metadata={"help": "Smaller images are upscaled by the processor to this."})
    crop_share: float = field(
        default=0.0, metadata={"help": "Share of extract examples shown a region crop instead of the page."}
    )
    subset_share: float = field(
        default=0.2,
        metadata={"help": "Share of complete documents' extract examples that ask for a drawn subset of fields."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training documents."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only the first N evaluation documents."})
    field_accuracy_samples: int = field(
        default=16, metadata={"help": "Evaluation documents read at each evaluation for eval_field_accuracy (0: none)."}
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest answer generated for eval_field_accuracy."})
    mined_dataset: str | None = field(
        default=None, metadata={"help": "Mined log (trainer.mine) to replay beside the dataset: Hub id or folder."}
    )
    replay_share: float = field(default=0.3, metadata={"help": "Share of training documents drawn from the log."})
    replay_weighting: str = field(
        default="uniform", metadata={"help": "How the log is drawn: uniform, or severity (in proportion to it)."}
    )

    def __post_init__(self):
        parse_task_mix(self.task_mix)  # raises on an unknown task or weights
        for name in ("min_pixels", "max_pixels"):  # a recipe's YAML may hold anything
            if type(getattr(self, name)) is not int:
                raise InputError(f"{name} must be a whole number of pixels, got {getattr(self, name)!r}")
        if not MIN_PIXELS <= self.min_pixels <= self.max_pixels:
            raise InputError(
                f"need 784 ≤ min_pixels ≤ max_pixels (one 28×28 patch block at least), got {self.min_pixels}, {self.max_pixels}"
            )
        if self.field_accuracy_samples < 0 or self.max_new_tokens < 1:
            raise InputError("field_accuracy_samples must be ≥ 0 and max_new_tokens ≥ 1")
        if self.mined_dataset:
            check_settings(self.replay_share, self.replay_weighting)
        if not (0 <= self.crop_share <= 1 and 0 <= self.subset_share <= 1):
            raise InputError(
                f"crop_share and subset_share are shares in [0, 1], got {self.crop_share}, {self.subset_share}"
            )


@dataclass
class TrainingDefaults:
    """What FinScribe's training arguments (trainer.sft's and trainer.grpo's) set on TRL's: a checked learning rate,
    and activation checkpointing on without transformers' warning about TRL's deprecated default."""

    activation_checkpointing: bool | None = field(
        default=None, metadata={"help": "Recompute activations in the backward pass: less memory, a slower step (on)."}
    )
    # TRL defaults this deprecated alias to True, which transformers warns about on every run; unset, it takes TRL's
    # default under the new name, and set (an old recipe or flag), it still decides, with transformers' warning.
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing."}
    )

    def __post_init__(self):
        if not (isinstance(self.learning_rate, int | float) and 0 < self.learning_rate < float("inf")):
            raise InputError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if self.activation_checkpointing is None and self.gradient_checkpointing is None:
            self.activation_checkpointing = True
        super().__post_init__()
        if self.eval_strategy == "no":  # a recipe's eval_on_start has nothing to evaluate when a flag turns it off
            self.eval_on_start = False


@dataclass
class SFTConfig(TrainingDefaults, trl.SFTConfig):
    max_length: int | None = field(
        default=None, metadata={"help": "None keeps every document whole: cutting image tokens breaks the model."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "False: the lazy transform reads the document columns."}
    )
    padding_free: bool = field(
        default=False,
        metadata={"help": "Lay each batch's examples end to end, no padding, each attending only to itself and keeping "
                          "its own M-RoPE positions (trainer/packing.py): the same loss for the tokens the documents "
                          "have, not the longest one's length times the batch."},
    )  # fmt: skip
    tokens_per_batch: int | None = field(
        default=None,
        metadata={"help": "With padding_free: fill each training batch with whole examples up to this many tokens, "
                          "instead of per_device_train_batch_size examples; a longer example is trained alone."},
    )  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        if self.tokens_per_batch is not None and not (type(self.tokens_per_batch) is int and self.tokens_per_batch > 0):
            raise InputError(f"tokens_per_batch must be a positive whole number, got {self.tokens_per_batch!r}")
        if self.tokens_per_batch is not None and not self.padding_free:
            raise InputError("tokens_per_batch fills packed batches: it needs --padding_free true")


@dataclass
class ModelConfig(trl.ModelConfig):
    model_name_or_path: str = field(default="PaddlePaddle/PaddleOCR-VL", metadata={"help": "Hub id or local folder."})
    lora_scope: str = field(
        default="language", metadata={"help": f"Parts LoRA adapts, comma-separated: {', '.join(LORA_SCOPES)}."}
    )
    freeze_vision: bool = field(
        default=True, metadata={"help": "Keep the vision encoder's weights fixed (full fine-tune)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if unknown := set(self.lora_scope.split(",")) - set(LORA_SCOPES):
            raise InputError(f"unknown lora_scope {sorted(unknown)}; choose from {', '.join(LORA_SCOPES)}")


def load_processor(model_args: ModelConfig, script_args: ScriptArguments):
    processor = from_pretrained(AutoProcessor, model_args.model_name_or_path, revision=model_args.model_revision)
    processor.image_processor.size = {"shortest_edge": script_args.min_pixels, "longest_edge": script_args.max_pixels}
    return processor


def load_model(model_args: ModelConfig, adapter: str | None = None) -> PreTrainedModel:
    """The model to train, with an `adapter` (trainer.sft's LoRA) merged into it first where one is given."""
    model = from_pretrained(
        AutoModelForImageTextToText,
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        quantization_config=get_quantization_config(model_args),
    )
    if adapter is not None:  # PEFT freezes the base to load an adapter: the merged weights are all trainable again
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload().requires_grad_(True)
    if model_args.freeze_vision:
        model.model.visual.requires_grad_(False)
    return model


def lora_config(model_args: ModelConfig):
    """PEFT's LoraConfig from the model arguments; targets follow lora_scope unless named explicitly."""
    config = get_peft_config(model_args)
    if config is not None and model_args.lora_target_modules is None:
        config.target_modules = "|".join(f"({LORA_SCOPES[scope]})" for scope in model_args.lora_scope.split(","))
    return config


def document_split(
    script_args: ScriptArguments, split: str, limit: int | None, seed: int, epoch: Epoch | None = None,
    references: bool = False,
):  # fmt: skip
    dataset = load_document_dataset(script_args.dataset_name, split, NEEDED)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    if epoch is not None and script_args.mined_dataset:  # training documents only
        log = load_document_dataset(script_args.mined_dataset, "train", NEEDED)
        dataset = with_replay(dataset, log, script_args.replay_share, script_args.replay_weighting, seed)
    mix = parse_task_mix(script_args.task_mix)
    return to_prompt_completion(
        dataset, mix, script_args.max_pixels, seed, script_args.crop_share, epoch, script_args.subset_share, references
    )


def lengths_of(train, processor, script_args: ScriptArguments, seed: int):
    """`lengths(epoch)`: the tokens of each example of `train` (document_split's) in an epoch, for tokens_per_batch."""
    mix = parse_task_mix(script_args.task_mix)
    documents = train.with_format(None)  # the rows the training transform reads
    return lambda epoch: example_lengths(documents, processor, epoch, mix, script_args.max_pixels, seed,
                                         script_args.crop_share, script_args.subset_share)  # fmt: skip


def build_trainer(model: PreTrainedModel, args: SFTConfig, lengths=None, epoch: Epoch | None = None,
                  **kwargs) -> SFTTrainer:  # fmt: skip
    """TRL's SFTTrainer (same arguments), or with `args.padding_free` one whose batches are packed
    (trainer/packing.py): TRL refuses padding_free for vision-language models, so it is turned off for TRL's own
    set-up and the packing done after TRL's collator. With `args.tokens_per_batch`, `lengths(epoch)` gives each
    training example's tokens in an epoch, and `epoch` is the training transform's."""
    padding_free, args.padding_free = args.padding_free, False
    trainer = (PackedSFTTrainer if padding_free else SFTTrainer)(model=model, args=args, **kwargs)
    args.padding_free = padding_free  # as given, in what the checkpoints record
    if padding_free:
        trainer.data_collator = PackingCollator(trainer.data_collator, model.model.get_rope_index)
        trainer.lengths, trainer.epoch = lengths, epoch or Epoch()
    return trainer


def make_trainer(script_args: ScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> SFTTrainer:
    """Everything `main` trains: processor, model, lazy datasets and TRL's trainer (with PEFT when asked)."""
    epoch = Epoch()  # the training examples' tasks are drawn anew each epoch; evaluation's stay fixed
    train = document_split(
        script_args, script_args.dataset_train_split, script_args.max_train_samples, training_args.seed, epoch
    )
    evaluation = None
    if training_args.eval_strategy != "no":
        evaluation = document_split(
            script_args, script_args.dataset_test_split, script_args.max_eval_samples, training_args.seed
        )
    processor = load_processor(model_args, script_args)
    trainer = build_trainer(
        load_model(model_args),
        training_args,
        lengths_of(train, processor, script_args, training_args.seed),
        epoch,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=processor,
        peft_config=lora_config(model_args),
        callbacks=[epoch],
    )
    if evaluation is not None and script_args.field_accuracy_samples:
        rows = load_split(script_args.dataset_name, script_args.dataset_test_split, script_args.field_accuracy_samples)
        documents = []
        for row in rows:
            try:
                pages = read_pages(row, script_args.max_pixels)
            except PageError as error:
                logger.warning("Field accuracy leaves out document %s: %s", row["id"], error)
                continue
            if (truth := read_document(row["ground_truth"])) is not None:
                documents.append((pages, truth))
        trainer.add_callback(FieldAccuracyCallback(trainer, documents, script_args.max_new_tokens))
    return trainer


class PackedSFTTrainer(SFTTrainer):
    """TRL's trainer on packed batches, counting their tokens (TRL reads a padding-free batch's length from
    position_ids' second dimension, where M-RoPE's four rows put the batch's, 1), and with `tokens_per_batch`
    drawing its training batches by that budget."""

    def _get_train_sampler(self, train_dataset=None):
        if self.args.tokens_per_batch is None:
            return super()._get_train_sampler(train_dataset)
        args = self.args
        sampler = TokenBudgetSampler(
            self.lengths, args.tokens_per_batch, self.epoch, args.seed, args.process_index, args.world_size,
            args.num_train_epochs, args.max_steps * args.gradient_accumulation_steps,
        )  # fmt: skip
        self.token_budget_sampler = sampler  # its batches, for a look at how full they are
        if sampler.alone:
            logger.warning("%d of the first epoch's %d training examples are over tokens_per_batch %d: each is trained alone",
                           sampler.alone, len(self.train_dataset), args.tokens_per_batch)  # fmt: skip
        return sampler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counted = self._total_train_tokens
        result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._total_train_tokens != counted:  # a training step, counted as 1 token
            tokens = torch.tensor(real_tokens(inputs), device=inputs["input_ids"].device)
            self._total_train_tokens = counted + int(self.accelerator.gather_for_metrics(tokens).sum())
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
        return result


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint cannot be resumed from, or None when it is whole.

    Trainer writes trainer_state.json last, so a checkpoint cut short by a kill or a full disk lacks it (or holds a
    torn one); one half-deleted by the rotation of old checkpoints lacks its weights.
    """
    try:
        state = json.loads((checkpoint / TRAINER_STATE_NAME).read_text())
    except FileNotFoundError:
        return f"no {TRAINER_STATE_NAME}"
    except (OSError, ValueError):
        return f"a torn {TRAINER_STATE_NAME}"
    if state.get("global_step") != int(checkpoint.name.rpartition("-")[2]):
        return f"its {TRAINER_STATE_NAME} is of step {state.get('global_step')}"
    if not any((checkpoint / name).exists() for name in WEIGHTS) and not any(checkpoint.glob("global_step*")):
        return "no weights"
    return None


def resume_checkpoint(training_args: SFTConfig) -> str | None:
    """`--resume_from_checkpoint PATH`, or `true`/`latest` for the newest complete checkpoint in output_dir.

    An incomplete checkpoint is never loaded: it is named, left as it is, and the one before it is taken.
    """
    value = training_args.resume_from_checkpoint
    if value is None or value.lower() == "false":
        return None
    if value.lower() not in ("true", "latest"):
        if (problem := checkpoint_problem(Path(value))) is not None:
            raise InputError(f"cannot resume from {value}: the checkpoint is incomplete ({problem})")
        return value
    output_dir = Path(training_args.output_dir)
    checkpoints = sorted(
        (p for p in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.name.rpartition("-")[2].isdigit()),
        key=lambda p: int(p.name.rpartition("-")[2]),
        reverse=True,
    )
    for checkpoint in checkpoints:
        if (problem := checkpoint_problem(checkpoint)) is None:
            logger.warning("Resuming from %s", checkpoint)
            return str(checkpoint)
        logger.warning("Skipping %s: incomplete (%s); it is left as it is", checkpoint, problem)
    raise InputError(f"no complete checkpoint to resume in {output_dir}")


def keep_token_out(training_args: SFTConfig):
    """A --hub_token moves to the environment, where huggingface_hub reads it: the arguments are pickled into
    every checkpoint's training_args.bin, and the token must not be."""
    if training_args.hub_token:
        logger.warning("--hub_token is visible to other users of this machine; prefer `hf auth login` or HF_TOKEN")
        os.environ["HF_TOKEN"], training_args.hub_token = training_args.hub_token, None


def main(script_args: ScriptArguments, training_args: SFTConfig, model_args: ModelConfig):
    train_and_stage("trainer.sft", make_trainer, script_args, training_args, model_args)


def train_and_stage(command: str, make, script_args, training_args, model_args):
    """What trainer.sft and trainer.grpo do with the trainer `make` returns: train (resuming where asked), evaluate,
    stage the output folder (weights, processor, training curve, model card) and push it."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=training_args.get_process_log_level()
    )
    keep_token_out(training_args)
    push, training_args.push_to_hub = training_args.push_to_hub, False  # pushed once, from the staged folder, below
    output_dir = Path(training_args.output_dir)
    kept = f"checkpoints saved so far in {output_dir} stay; continue with --resume_from_checkpoint true"
    # One writer per run folder; in a distributed run the main process holds it for all. It writes weights by name:
    # never into the model, dataset or log it reads.
    inputs = [model_args.model_name_or_path, script_args.dataset_name, script_args.mined_dataset]
    folder = claim(output_dir, command, reuse=True, inputs=inputs) if main_process() else nullcontext()
    # Arguments, model, data, checkpoint, disk and Ctrl-C are the user's; any other failure in training is a bug.
    with known_noise_silenced(), one_line_errors(interrupted=kept), folder:
        if push and not training_args.hub_model_id:
            raise InputError("--push_to_hub needs --hub_model_id USER/REPO")
        checkpoint = resume_checkpoint(training_args)
        trainer = make(script_args, training_args, model_args)
        trainer.train(resume_from_checkpoint=checkpoint)
        metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
        trainer.save_model(output_dir)  # adapter (or model) + processor, loadable with PEFT/transformers
        if trainer.is_world_process_zero():
            (output_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle: the card holds the settings instead
            plot_training_curve(trainer.state.log_history, output_dir / "training_curve.png")
            write_model_card(output_dir, script_args, training_args, model_args, metrics, command)
            logger.info("Staged %s: weights, processor, model card, training curve", output_dir)
    if push and trainer.is_world_process_zero():
        with one_line_errors():  # the Hub refused or is unreachable: the staged folder stays
            url = push_folder(output_dir, training_args.hub_model_id, private=training_args.hub_private_repo,
                              ignore=STAGED_ONLY)  # fmt: skip
        logger.info("Pushed to %s", url)


if __name__ == "__main__":
    with one_line_errors(parsing=True):
        arguments = TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config()
    main(*arguments)
