"""What the Space (space/app.py) does besides drawing its page: read a document with the base and the fine-tuned
model, check each reading against the schema's rules, and set the readings field by field beside each other and,
when a visitor gives one, beside the truth; and flag a page as a hard sample for the mining log.

Base and fine-tuned are one model with its PEFT adapter disabled and enabled (`Reader`): the Space holds one copy of
the weights and preprocesses a page once for both. A reading holds the model, so readings take turns (one lock);
the queue of the page decides who waits.

Configuration is by environment variables (`SpaceConfig.from_env`), so the same app runs on the Hub and, offline,
on the tiny stand-in (`make space`).
"""

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from PIL import Image
from transformers import StoppingCriteria, TextIteratorStreamer

from trainer.data.document_dataset import items_grid
from trainer.data.pages import (
    MAX_DOCUMENT_PAGES,
    MAX_PIXELS,
    PageError,
    downscale,
    is_pdf,
    open_page,
    open_pdf,
    page_count,
    pdf_page,
    read_bytes,
)
from trainer.data.tasks import PROMPTS, extract_prompt, select
from trainer.errors import InputError, first_line
from trainer.eval.fields import find_prediction, parse_prediction, renumber, score_fields
from trainer.eval.normalize import values_match
from trainer.eval.scores import score_document
from trainer.folders import claim
from trainer.inference import generate_streamed, load_for_inference
from trainer.mining.log import KEY, append, logged_keys, mined_record, page_document, provenance, write_card
from trainer.mining.unlabelled import jpeg, signals
from trainer.schema.document import DOCUMENT_TYPES, canonical_json, get_path, rule_verdicts, scalar_paths, validate
from trainer.tables import grid_to_html, grid_to_otsl

logger = logging.getLogger(__name__)
# The bundled examples: generated pages of both document types in several layouts and locales, each with its truth.
EXAMPLES = (
    ("invoice", "de_DE"), ("invoice", "en_GB"), ("invoice", "fr_FR"),
    ("receipt", "en_US"), ("receipt", "de_CH"), ("receipt", "ja_JP"),
)  # fmt: skip
EXAMPLE_SEED = 2026


@dataclass
class SpaceConfig:
    """The Space's settings, each read from the environment variable named in its metadata."""

    base_model: str = field(default="PaddlePaddle/PaddleOCR-VL", metadata={"env": "FINSCRIBE_BASE_MODEL"})
    adapter: str | None = field(default=None, metadata={"env": "FINSCRIBE_ADAPTER"})  # a folder or a Hub repo id
    variant: str | None = field(default=None, metadata={"env": "FINSCRIBE_VARIANT"})  # trainer.quantize's output
    examples: str = field(default="space/examples", metadata={"env": "FINSCRIBE_EXAMPLES"})
    mining_dir: str = field(default="flagged", metadata={"env": "FINSCRIBE_MINING_DIR"})
    mining_repo: str | None = field(default=None, metadata={"env": "FINSCRIBE_MINING_REPO"})  # with HF_TOKEN
    max_pixels: int = field(default=MAX_PIXELS, metadata={"env": "FINSCRIBE_MAX_PIXELS"})  # the recipes' page size
    max_new_tokens: int = field(default=1024, metadata={"env": "FINSCRIBE_MAX_NEW_TOKENS"})  # the most one may ask
    max_upload_mb: int = field(default=20, metadata={"env": "FINSCRIBE_MAX_UPLOAD_MB"})
    max_upload_pixels: int = field(default=40_000_000, metadata={"env": "FINSCRIBE_MAX_UPLOAD_PIXELS"})
    max_pdf_pages: int = field(default=50, metadata={"env": "FINSCRIBE_MAX_PDF_PAGES"})  # a PDF the page accepts
    time_limit: float = field(default=120.0, metadata={"env": "FINSCRIBE_TIME_LIMIT"})  # seconds per reading
    concurrency: int = field(default=1, metadata={"env": "FINSCRIBE_CONCURRENCY"})  # requests served at once
    queue_size: int = field(default=64, metadata={"env": "FINSCRIBE_QUEUE_SIZE"})  # waiting beyond: turned away

    @classmethod
    def from_env(cls, environ=os.environ) -> "SpaceConfig":
        values = {}
        for spec in fields(cls):
            if (text := environ.get(spec.metadata["env"])) not in (None, ""):
                kind = type(spec.default) if spec.default is not None else str
                try:
                    values[spec.name] = kind(text)
                except ValueError:
                    raise InputError(f"{spec.metadata['env']}={text!r} is not a {kind.__name__}") from None
        return cls(**values)


class _Cancelled(StoppingCriteria):
    """Ends a generation when its event is set: the visitor left, so nobody reads the rest."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((len(input_ids),), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class Reader:
    """A model and its processor; with an adapter, the base (adapter disabled) and the fine-tune (enabled)."""

    def __init__(self, model_name: str, adapter: str | None = None):
        if adapter is not None and not Path(adapter).is_dir():
            from huggingface_hub import snapshot_download

            try:  # a Hub adapter: load_for_inference reads a folder
                adapter = snapshot_download(adapter)
            except Exception as error:  # offline, no such repo, no access: the Space cannot start without it
                raise InputError(f"adapter {adapter!r} not found ({first_line(error)})") from None
        self.model, self.processor = load_for_inference(model_name, adapter)
        self.has_adapter = adapter is not None
        self.lock = threading.Lock()

    def stream(
        self, pages: list[Image.Image], fields: list[str] | None, adapter: bool, max_new_tokens: int,
        max_time: float | None = None,
    ) -> Iterator[dict]:  # fmt: skip
        """The reading as it grows ({"text", "done": False}), then the whole of it: {"text", "tokens", "ended",
        "seconds", "done": True}. Greedy: the same page and fields read the same every time."""
        if adapter and not self.has_adapter:
            raise ValueError("this model has no adapter to enable")
        with self.lock:
            streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
            cancel, result = threading.Event(), {}

            def run():
                try:
                    with torch.inference_mode(), self._adapter(adapter):
                        result.update(generate_streamed(
                            self.model, self.processor, pages, max_new_tokens, fields, streamer, max_time,
                            _Cancelled(cancel),
                        ))  # fmt: skip
                except Exception as error:  # raised again below, in the caller's thread
                    result["error"] = error
                    streamer.end()

            start = time.perf_counter()
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            text = ""
            try:
                for piece in streamer:
                    text += piece
                    yield {"text": text, "done": False}
            finally:
                cancel.set()  # a generator closed early (the visitor left) ends the generation too
                worker.join()
            if "error" in result:
                raise result["error"]
            yield {**result, "seconds": time.perf_counter() - start, "done": True}

    def _adapter(self, enabled: bool):
        return nullcontext() if enabled or not self.has_adapter else self.model.disable_adapter()


def write_examples(folder: str | Path) -> list[tuple[Path, Path]]:
    """The bundled examples (page and true JSON of each of `EXAMPLES`, and the first invoice also as a PDF), made
    by the generator when the folder lacks them: the same files every time."""
    from trainer.synth.generate import make_sample

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for index, (doc_type, locale) in enumerate(EXAMPLES):
        page, truth = folder / f"{doc_type}_{locale}.jpg", folder / f"{doc_type}_{locale}.json"
        if not (page.is_file() and truth.is_file()):
            row = make_sample(EXAMPLE_SEED, index, (doc_type,), (locale,), long_invoices=0)  # one page each
            page.write_bytes(row["image"]["bytes"])
            truth.write_text(json.dumps(json.loads(row["ground_truth"]), ensure_ascii=False, indent=1) + "\n")
        examples.append((page, truth))
    pdf = folder / f"{examples[0][0].stem}.pdf"
    if not pdf.is_file():
        Image.open(examples[0][0]).save(pdf, "PDF", resolution=150)
    return [*examples, (pdf, examples[0][1])]


def load_columns(config: SpaceConfig) -> dict[str, tuple[Reader, bool]]:
    """Each column's reader and whether its adapter is on: the base, the fine-tune (the same reader, adapter on)
    when an adapter is configured, and the deployment variant (a model of its own) when one is."""
    reader = Reader(config.base_model, config.adapter)
    columns = {"base": (reader, False)}
    if config.adapter:
        columns["finetuned"] = (reader, True)
    if config.variant:
        columns["variant"] = (Reader(config.variant), False)
    return columns


def compare(
    columns: dict[str, tuple[Reader, bool]], pages: list[Image.Image], fields: list[str] | None,
    truth: dict | None, max_new_tokens: int, max_time: float | None = None,
) -> Iterator[dict]:  # fmt: skip
    """Read the document with each column in turn, yielding {"model", "text"} as each reading grows, and last the
    comparison: each model's reading, time, JSON and rule verdicts, line items and (with a truth) scores, and the
    field-by-field table. With `fields`, the table and the scores cover those fields alone, as the evaluation
    scores a field-subset prompt."""
    readings = {}
    for name, (reader, adapter) in columns.items():
        for step in reader.stream(pages, fields, adapter, max_new_tokens, max_time):
            if step["done"]:
                readings[name] = step
            else:
                yield {"model": name, "text": step["text"]}
    asked = truth and select(truth, fields) if fields else truth
    models = {}
    for name, reading in readings.items():
        text, document = reading["text"], find_prediction(reading["text"])
        models[name] = {
            "text": text, "seconds": round(reading["seconds"], 3), "tokens": reading["tokens"],
            "tokens_per_second": round(reading["tokens"] / reading["seconds"], 1) if reading["seconds"] else None,
            "ended": reading["ended"], **verdicts(text), "line_items": line_items(document),
            **(scores(text, asked) if asked is not None else {}),
        }  # fmt: skip
    texts = {name: reading["text"] for name, reading in readings.items()}
    rows = field_rows(texts, asked)
    if fields:
        rows = [row for row in rows if asks_for(fields, row["field"])]
    yield {"models": models, "fields": rows, "prompt": extract_prompt(fields)}


def asks_for(fields: list[str], path: str) -> bool:
    """Whether a field-subset prompt's names (`total`, `vendor.name`, `line_items`) cover a dotted path."""
    key, _, rest = path.partition(".")
    return key in fields or f"{key}.{rest.partition('.')[0]}" in fields


def upload_bytes(path: str | Path, config: SpaceConfig) -> bytes:
    """An upload's bytes, refused from its size before it is read when over the Space's cap."""
    size = Path(path).stat().st_size
    if size > config.max_upload_mb * 2**20:
        raise PageError(f"file too large: {size / 2**20:.1f} MB, over the {config.max_upload_mb} MB this Space takes")
    return read_bytes(path)


def document_pages(path: str | Path, page: int | None, config: SpaceConfig) -> list[Image.Image]:
    """An uploaded file's pages as the model sees them: an image's one page; a PDF's or a multi-page TIFF's page
    `page` (from 1), or with `page` None all its pages, as one document (at most `MAX_DOCUMENT_PAGES`). PageError, in
    words, for anything else: too large a file or page, not a page at all, a damaged, empty or encrypted PDF."""
    data, limit = upload_bytes(path, config), config.max_upload_pixels
    if is_pdf(data):
        document, kind = open_pdf(data), "PDF"
        count = len(document)
    else:  # refused from its header, over the pixel cap, before it is decoded
        open_page(data, config.max_pixels, limit)
        document, kind, count = None, "TIFF", page_count(data)
    if count > config.max_pdf_pages:
        raise PageError(f"too many pages: the {kind} has {count}, over the {config.max_pdf_pages} this Space takes")
    if page is None:
        if count > MAX_DOCUMENT_PAGES:
            raise PageError(
                f"the {kind} has {count} pages, over the {MAX_DOCUMENT_PAGES} one reading shows: choose a page"
            )
        indices = range(count)
    elif 1 <= page <= count:
        indices = [page - 1]
    elif document is None and count == 1:  # an image: its one page, whichever page was asked for
        indices = [0]
    else:
        raise PageError(f"no page {page}: the {kind} has {count}")
    pages = [
        pdf_page(document, i, limit) if document else open_page(data, config.max_pixels, limit, i) for i in indices
    ]
    return [downscale(page, config.max_pixels) for page in pages]


def preview(path: str | Path, config: SpaceConfig, max_pixels: int = 1_500_000) -> Image.Image:
    """The first page of an upload at a size to look at, under the same caps as a reading."""
    return downscale(open_page(upload_bytes(path, config), max_pixels, config.max_upload_pixels), max_pixels)


def parse_fields(text: str | None) -> list[str] | None:
    """The fields a visitor asks for ("vendor.name, total"), as the field-subset prompt names them; None for all."""
    names = [name.strip() for name in (text or "").replace("\n", ",").split(",") if name.strip()]
    known = {key for module in DOCUMENT_TYPES.values() for key in module.Document.model_fields}
    if unknown := [name for name in names if name.partition(".")[0] not in known]:
        raise InputError(f"unknown field {unknown[0]!r}: fields are top-level keys such as total, or vendor.name")
    return names or None


def parse_truth(text: str | None) -> dict | None:
    """A visitor's true JSON for the document, checked by the schema; None when none is given."""
    if not (text or "").strip():
        return None
    try:
        truth = json.loads(text)
    except ValueError as error:
        raise InputError(f"the true JSON does not parse: {error}") from None
    except RecursionError:  # Python's parser gives up on arrays or objects nested thousands deep
        raise InputError("the true JSON is nested too deep to be a document") from None
    if schema := [v for v in validate(truth) if v.startswith("schema")]:
        raise InputError(f"the true JSON is not a FinScribe document: {schema[0]}")
    return truth


def verdicts(text: str) -> dict:
    """A reading's label-free check: whether it is one JSON object, and each schema rule it passed or failed."""
    document = parse_prediction(text)
    if document is None:
        found = find_prediction(text)
        return {"json": "none" if found is None else "inside other text", "rules": {}}
    return {"json": "valid", "rules": rule_verdicts(document)}


def _items(document) -> list[dict]:
    """The line items of a reading that has them as a list of objects (a model may write anything)."""
    items = document.get("line_items") if isinstance(document, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def line_items(document: dict | None) -> list[list[str]]:
    """A reading's line-item table: the header row, then each item's values ([] when it has none)."""
    items = _items(document)
    return [[text for text, _ in row] for row in items_grid(items)] if items else []


def field_rows(readings: dict[str, str], truth: dict | None = None) -> list[dict]:
    """The field-by-field table: each field any reading or the truth holds, each model's value, whether the models
    agree, and with a truth whether each is right (the evaluation's own matching: line items paired first)."""
    documents = {name: find_prediction(text) for name, text in readings.items()}
    if truth is not None:
        documents = {name: renumber(doc, truth) if doc is not None else None for name, doc in documents.items()}
        right = {name: score_fields(doc, truth)["verdicts"] for name, doc in documents.items()}
    paths = list(dict.fromkeys(
        [*(scalar_paths(truth) if truth else []), *(p for d in documents.values() if d for p in scalar_paths(d))]
    ))  # fmt: skip
    rows = []
    for path in paths:
        values = {name: get_path(doc, path) if doc is not None else None for name, doc in documents.items()}
        first, *others = values.values()
        row = {"field": path, **{name: _shown(value) for name, value in values.items()}}
        row["same"] = all(values_match(path, other, first) for other in others)
        if truth is not None:
            row["truth"] = _shown(get_path(truth, path))
            row |= {f"{name}_right": right[name].get(path) for name in documents}  # None: not in the truth
        rows.append(row)
    return rows


def _shown(value) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def scores(text: str, truth: dict) -> dict:
    """A reading's field accuracy, as the evaluation scores it, and the TEDS of its line-item table against the
    truth's, both drawn in the truth's columns (None when the truth has no line items)."""
    if not (items := _items(truth)):
        return {"field_accuracy": score_document(text, truth)["field_accuracy"], "teds": None}
    true_grid = items_grid(items)
    predicted = _items(find_prediction(text))
    otsl = grid_to_otsl(items_grid(predicted, [name for name, _ in true_grid[0]])) if predicted else ""
    scored = score_document(text, truth, otsl, grid_to_html(true_grid))
    return {"field_accuracy": scored["field_accuracy"], "teds": scored["teds"]}


def flag_lock(config: SpaceConfig) -> tuple[threading.Lock, str]:
    """The lock flagging writes under, and where flagged pages go. With a mining repo, huggingface_hub's
    CommitScheduler uploads the log folder every 5 minutes and this is its lock, so no commit takes a half-written
    file; a repo that cannot be reached (no token, offline) leaves the log local, with a warning."""
    if config.mining_repo:
        from huggingface_hub import CommitScheduler

        try:
            scheduler = CommitScheduler(
                repo_id=config.mining_repo, repo_type="dataset", folder_path=config.mining_dir, every=5, private=True,
                allow_patterns=["needs_label/*", "README.md"],
            )  # fmt: skip
            return scheduler.lock, f"{config.mining_dir} and the Hub dataset {config.mining_repo}"
        except Exception as error:  # any failure to reach the Hub leaves the log local
            logger.warning("flagged pages stay in %s: %s unreachable (%s)", config.mining_dir, config.mining_repo,
                           first_line(error))  # fmt: skip
    return threading.Lock(), config.mining_dir


def flag(
    config: SpaceConfig, pages: list[Image.Image], readings: dict[str, str], fields: list[str] | None,
    correction: dict | None, lock: threading.Lock,
) -> bool:  # fmt: skip
    """Append the page, both readings and the visitor's correction (its ground truth, when it passes the schema) to
    the mining log's `needs_label` set, as `trainer.mine --unlabelled` logs a page, with the label-free signals of the
    fine-tuned reading and the kind `flagged`; False when this page was flagged already for the same question and
    nothing new comes with it (no correction, or the one already stored): a correction sent later is a new record.
    `lock`: the Hub scheduler's, so no commit takes a half-written log."""
    images = [jpeg(page) for page in pages]
    kinds, score = signals(readings.get("finetuned", ""), readings.get("base", ""), None)
    document = page_document(
        "space-" + hashlib.sha256(b"".join(images)).hexdigest()[:16], images, "space",
        canonical_json(correction) if correction else "", correction["doc_type"] if correction else None,
    )  # fmt: skip
    record = mined_record(
        document, provenance("space", "", config.base_model, config.adapter),
        prompt=extract_prompt(fields) if fields else PROMPTS["extract"], reading=readings.get("finetuned", ""),
        baseline_reading=readings.get("base", ""), errors=[(kind, ()) for kind in [*kinds, "flagged"]],
        field_accuracy=0.0, severity=score + 1, label_valid=correction is not None and validate(correction) == [],
    )  # fmt: skip
    with lock, claim(config.mining_dir, "trainer.mine", resume=True) as folder:
        if correction is None and any(
            key[:3] == tuple(record[k] for k in KEY[:3]) for key in logged_keys(folder, "needs_label")
        ):
            return False
        written, _ = append(folder, [record], "needs_label")
        write_card(folder, config.mining_repo)
    return bool(written)
