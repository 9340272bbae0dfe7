"""Stage what training produced, then publish it: the model card, and one commit of the staged folder.

The folder written here is exactly what is pushed, so it can be loaded back (PEFT/transformers) and tested before
anything leaves the machine. Tokens are read by huggingface_hub from its own login or HF_TOKEN, never here.
"""

from pathlib import Path

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from trainer.errors import PushError, first_line
from trainer.folders import HIDDEN
from trainer.packaged import card_template

SETTINGS = (  # training settings worth a reader's eye, in the card
    "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
    "lr_scheduler_type", "warmup_steps", "weight_decay", "bf16", "activation_checkpointing", "seed",
)  # fmt: skip


# What Trainer.evaluate() reports that says nothing about quality.
NOT_METRICS = {"runtime", "samples_per_second", "steps_per_second", "num_tokens", "entropy", "epoch"}


# How each training command trains, as its model card says it
TRAINED_WITH = {
    "trainer.sft": ("sft", "`python -m trainer.sft`, TRL's `SFTTrainer`, completion-only loss"),
    "trainer.grpo": ("grpo", "`python -m trainer.grpo`, TRL's `GRPOTrainer`, rewards the documents verify themselves"),
}
# Reinforcement learning's settings worth a reader's eye, beside SETTINGS
GRPO_SETTINGS = ("rewards", "num_generations", "max_completion_length", "temperature", "beta")


def write_model_card(
    output_dir: Path, script_args, training_args, model_args, metrics: dict, command: str = "trainer.sft"
) -> Path:
    """README.md with YAML metadata (base_model, datasets, tags, model-index when metrics exist) and the settings."""
    adapter = model_args.use_peft
    name = training_args.hub_model_id or output_dir.name
    results = [
        EvalResult(
            task_type="image-text-to-text",
            dataset_type=script_args.dataset_name,
            dataset_name=script_args.dataset_name,
            dataset_split=script_args.dataset_test_split,
            metric_type=key.removeprefix("eval_"),
            metric_value=value,
        )  # fmt: skip
        for key, value in sorted(metrics.items())
        if key.removeprefix("eval_") not in NOT_METRICS and key.startswith("eval_") and isinstance(value, int | float)
    ]
    card_data = ModelCardData(
        base_model=model_args.model_name_or_path,
        datasets=[script_args.dataset_name],
        library_name="peft" if adapter else "transformers",
        pipeline_tag="image-text-to-text",
        tags=["finscribe", "paddleocr-vl", "document-ai", "invoices", "receipts", "trl", TRAINED_WITH[command][0]]
        + (["lora"] if adapter else []),
        model_name=name,
        eval_results=results or None,
    )
    settings = {key: getattr(training_args, key) for key in SETTINGS}
    if adapter:
        settings |= {
            "lora_r": model_args.lora_r,
            "lora_alpha": model_args.lora_alpha,
            "lora_scope": model_args.lora_scope,
            "load_in_4bit": model_args.load_in_4bit,
        }
    settings |= {"task_mix": script_args.task_mix, "max_pixels": script_args.max_pixels}
    for key in ("padding_free", "tokens_per_batch"):  # what a batch was, where it was not a padded one
        if getattr(training_args, key, None):
            settings[key] = getattr(training_args, key)
    for key in GRPO_SETTINGS if command == "trainer.grpo" else ():
        settings[key] = getattr(script_args if key == "rewards" else training_args, key)
    card = ModelCard.from_template(
        card_data, template_str=card_template("finetuned_model.md"), name=name, adapter=adapter, settings=settings,
        base_model=model_args.model_name_or_path, base_on_hub=not Path(model_args.model_name_or_path).exists(), metrics={r.metric_type: r.metric_value for r in results},
        curve=(output_dir / "training_curve.png").exists(), trained_with=TRAINED_WITH[command][1],
    )  # fmt: skip
    path = output_dir / "README.md"
    card.save(path)
    return path


def push_folder(
    folder: Path, repo_id: str, repo_type: str = "model", private: bool = False, ignore: tuple[str, ...] = ()
) -> str:
    """Create the repo if needed and upload the staged folder in one commit; any failure is a PushError in one line."""
    try:
        api = HfApi()
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id, repo_type=repo_type, folder_path=folder, ignore_patterns=[*ignore, *HIDDEN]
        ).commit_url
    except Exception as error:  # offline, unauthorised, forbidden, network: the staged folder stays as it is
        raise PushError(f"could not push {folder} to {repo_id}: {first_line(error)}") from None
