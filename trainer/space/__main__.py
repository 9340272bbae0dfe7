"""Stage the Space as a folder and upload it to the Hub:

    python -m trainer.space deploy --space_id USER/NAME --adapter USER/ADAPTER [--variant USER/VARIANT]
        [--mining_repo USER/FLAGGED] [--hardware t4-small] [--output_dir runs/space]

The folder holds what the Space runs: `app.py`, the `trainer` package beside it (with the card templates it
reads), the bundled examples, `requirements.txt` (FinScribe's own dependencies and Gradio) and the Space card
`README.md` (sdk, app_file, models, datasets, suggested hardware). The models and the mining repo are set as the
Space's variables. Offline, or without a token, the upload stops with one line and the staged folder stays.
"""

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from huggingface_hub import SpaceCard
from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.errors import InputError, PushError, first_line
from trainer.folders import claim

from .reader import SpaceConfig, write_examples

ROOT = Path(__file__).resolve().parents[2]  # the clone that holds space/ beside trainer/ (a wheel ships no app)
STAGED = ("space/app.py", "trainer")


COMMANDS = {"deploy": "stage the Space's folder and upload it", "stage": "only stage the folder"}


@dataclass
class DeployArguments:
    command: str = field(default="deploy", metadata={"help": "deploy or stage (the first argument)."})
    space_id: str | None = field(default=None, metadata={"help": "The Space's repo id, USER/NAME (deploy)."})
    base_model: str = field(default=SpaceConfig.base_model, metadata={"help": "The base model's Hub id."})
    adapter: str | None = field(default=None, metadata={"help": "The fine-tuned LoRA adapter's Hub id."})
    variant: str | None = field(default=None, metadata={"help": "A deployment variant (trainer.quantize)."})
    mining_repo: str | None = field(default=None, metadata={"help": "Hub dataset for flagged pages (needs HF_TOKEN)."})
    hardware: str = field(default="t4-small", metadata={"help": "The hardware the card suggests and asks for."})
    private: bool = field(default=False, metadata={"help": "Create the Space as private."})
    output_dir: str = field(default="runs/space", metadata={"help": "Where the Space folder is staged."})

    def __post_init__(self):
        if self.command == "deploy" and not self.space_id:
            raise InputError("deploy needs --space_id USER/NAME")


def requirements() -> str:
    """FinScribe's own dependencies (not its extras) and Gradio, at the versions this one runs with."""
    import gradio

    needs = [need for need in importlib.metadata.requires("finscribe") if "extra ==" not in need]
    return "\n".join([*needs, f"gradio=={gradio.__version__}"]) + "\n"


def stage(args: DeployArguments) -> Path:
    """The Space's folder, written afresh."""
    import gradio

    if not (ROOT / "space" / "app.py").is_file():
        raise InputError(f"no space/app.py beside {ROOT / 'trainer'}: stage the Space from a clone of FinScribe")
    with claim(args.output_dir, "trainer.space", overwrite=True) as folder:
        for name in STAGED:
            source, target = ROOT / name, folder / Path(name).name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, target)
        write_examples(folder / "examples")
        (folder / "requirements.txt").write_text(requirements())
        card = SpaceCard.load(ROOT / "space" / "README.md")
        card.data.sdk_version = gradio.__version__
        card.data.models = [name for name in (args.base_model, args.adapter, args.variant) if name]
        card.data.datasets = [args.mining_repo] if args.mining_repo else None
        card.data.suggested_hardware = args.hardware
        card.save(folder / "README.md")
    return folder


def variables(args: DeployArguments) -> list[dict]:
    """The Space's variables: what `SpaceConfig.from_env` reads there."""
    values = {"FINSCRIBE_BASE_MODEL": args.base_model, "FINSCRIBE_ADAPTER": args.adapter,
              "FINSCRIBE_VARIANT": args.variant, "FINSCRIBE_MINING_REPO": args.mining_repo,
              "FINSCRIBE_EXAMPLES": "examples"}  # fmt: skip
    return [{"key": key, "value": value} for key, value in values.items() if value]


def upload(folder: Path, args: DeployArguments) -> str:
    from huggingface_hub import HfApi

    from trainer.folders import HIDDEN

    try:
        api = HfApi()
        api.create_repo(
            args.space_id, repo_type="space", space_sdk="gradio", space_hardware=args.hardware,
            space_variables=variables(args), private=args.private, exist_ok=True,
        )  # fmt: skip
        return api.upload_folder(
            repo_id=args.space_id, repo_type="space", folder_path=folder, ignore_patterns=list(HIDDEN)
        ).commit_url
    except Exception as error:  # offline, unauthorised, forbidden, network: the staged folder stays as it is
        raise PushError(f"could not upload {folder} to the Space {args.space_id}: {first_line(error)}") from None


def main(argv: list[str] | None = None):
    argv = sys.argv[1:] if argv is None else argv
    with one_line_errors(parsing=True):
        if not argv or argv[0] not in COMMANDS:
            said = repr(argv[0]) if argv else "nothing"
            raise InputError(f"python -m trainer.space deploy|stage [--help]: got {said}; " + "; ".join(
                f"{name}: {what}" for name, what in COMMANDS.items()))  # fmt: skip
        (args,) = HfArgumentParser(DeployArguments).parse_args_into_dataclasses([*argv[1:], "--command", argv[0]])
    with one_line_errors():
        folder = stage(args)
        print(f"Staged the Space in {folder}/")
        if args.command == "deploy":
            print(f"Uploaded: {upload(folder, args)}")


if __name__ == "__main__":
    main()
