"""Files shipped inside the package (card templates, the generator's tables), found through `importlib.resources`
wherever FinScribe is installed: a clone, an editable install or a wheel (`pip install git+…`)."""

from importlib.resources import files


def packaged_text(*parts: str) -> str:
    """The text of a file under `trainer/`, e.g. `packaged_text("cards", "finetuned_model.md")`."""
    return files("trainer").joinpath(*parts).read_text(encoding="utf-8")


def card_template(name: str) -> str:
    """The Jinja template of a card in `trainer/cards/`, for `ModelCard`/`DatasetCard.from_template(template_str=)`."""
    return packaged_text("cards", name)
