"""The mined log: an append-only document dataset of the readings that went wrong, with what went wrong.

Layout of the folder (and of the Hub dataset it is pushed to):
- `data/train-{run}.parquet`: every record of one mining run; the `all` config, which `trainer.sft` trains on as it
  is (each record is a document row: page, ground truth, table, layout, locale...).
- `regression/train-{run}.parquet`: the same run's records where fine-tuning lost a field the baseline read right,
  or read the table or the page's text worse than the baseline; the `regression` config.
- README.md: the card, whose YAML offers both configs, with the count of every error kind.

A run adds files and never rewrites one. Each file is written aside and renamed into place, the regression file
first and the `data/` file last: a run is in the log exactly when its `data/` file is, and a regression file left
without one by a kill is removed by the next run. A record already logged for the same document, model revision and
prompt and truth is skipped, so mining the same predictions twice adds nothing.
"""

import datetime as dt
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, DatasetInfo, Features, List, SplitDict, SplitInfo, Value
from datasets.info import DatasetInfosDict
from huggingface_hub import CommitOperationAdd, DatasetCard, DatasetCardData, HfApi, try_to_load_from_cache

from trainer.data.document_dataset import FEATURES, write_atomic
from trainer.errors import PushError, first_line
from trainer.packaged import card_template
from trainer.quiet import quiet_datasets

from .classify import KINDS

REGRESSIONS = {"regression", "table_regression", "ocr_regression"}  # what the `regression` config holds

CONFIGS = {"all": "data", "regression": "regression", "needs_label": "needs_label"}  # config → folder of its files
VIEWS = (
    "README.md", "report.md", "errors_by_field.png", "errors_by_group.png", "worst_documents.jpg",
    "needs_label/label_studio.json", "needs_label/label_studio_config.xml",
)  # fmt: skip
# One record per document, model, question and truth: a visitor's correction of a page flagged before is new.
KEY = ("id", "model_revision", "prompt", "ground_truth")
LOG_FEATURES = Features(
    {
        **FEATURES,
        "source_dataset": Value("string"),
        "source_revision": Value("string"),  # the split's Parquet content hash, or the Hub commit
        "model": Value("string"),
        "adapter": Value("string"),
        "model_revision": Value("string"),  # the weights' content hash (model and adapter), or the Hub commit
        "task": Value("string"),
        "prompt": Value("string"),
        "reading": Value("string"),
        "baseline_reading": Value("string"),
        "errors": List({"kind": Value("string"), "path": Value("string")}),
        "error_kinds": List(Value("string")),
        "field_accuracy": Value("float64"),
        "severity": Value("float64"),
        "label_valid": Value("bool"),  # the ground truth passes the validator (only such records are replayed)
        "mined_at": Value("string"),
    }
)


def file_digest(files: list[Path]) -> str:
    """The SHA-256 (first 12 hex) of files' names and contents, read in 16 MB blocks."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as stream:
            while block := stream.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()[:12]


def content_revision(name_or_path: str | None, repo_type: str = "model", patterns: tuple = ("*.safetensors",)) -> str:
    """A revision for what produced or holds the data: the digest of a local folder's files matching `patterns`, or
    the commit of a Hub repo's cached snapshot; "" for none, "unknown" when neither can be found."""
    if not name_or_path:
        return ""
    path = Path(name_or_path)
    if path.is_dir():
        return file_digest(sorted(f for pattern in patterns for f in path.glob(pattern)))
    cached = try_to_load_from_cache(
        name_or_path, "README.md" if repo_type == "dataset" else "config.json", repo_type=repo_type
    )
    return Path(cached).parent.name if isinstance(cached, str) else "unknown"


def provenance(source_dataset: str, source_revision: str, model: str, adapter: str | None) -> dict:
    """What every record of one reading shares: where its documents came from and which weights read them (hashed
    once per run), and when."""
    return {
        "source_dataset": source_dataset, "source_revision": source_revision, "model": model, "adapter": adapter or "",
        "model_revision": "+".join(filter(None, (content_revision(model), content_revision(adapter)))),
        "task": "extract", "mined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def page_document(doc_id: str, pages: list[bytes], layout: str, ground_truth: str = "", doc_type: str | None = None):
    """The document columns of pages that came without a dataset row (an unlabelled folder, the Space)."""
    return {name: None for name in FEATURES} | {
        "image": {"bytes": pages[0], "path": None}, "more_pages": [{"bytes": p, "path": None} for p in pages[1:]],
        "id": doc_id, "ground_truth": ground_truth, "layout": layout, "fields": [], "augmentations": [],
        "doc_type": doc_type,
    }  # fmt: skip


def mined_record(
    document: dict, provenance: dict, *, prompt: str, reading: str, baseline_reading: str,
    errors: list[tuple[str, tuple[str, ...]]], field_accuracy: float, severity: float, label_valid: bool,
) -> dict:  # fmt: skip
    """One record of the log, with exactly LOG_FEATURES' columns: the document's (those it lacks null), the run's
    `provenance`, and the reading with its errors as (kind, paths) pairs, one `errors` entry per path."""
    return {name: document.get(name) for name in FEATURES} | provenance | {
        "prompt": prompt, "reading": reading, "baseline_reading": baseline_reading,
        "errors": [{"kind": kind, "path": path} for kind, paths in errors for path in (paths or ("",))],
        "error_kinds": [kind for kind, _ in errors], "field_accuracy": field_accuracy, "severity": severity,
        "label_valid": label_valid,
    }  # fmt: skip


def shard_paths(folder: Path, config: str) -> list[Path]:
    return sorted((folder / CONFIGS[config]).glob("train-*.parquet"))


def logged_keys(folder: Path, config: str = "all") -> set[tuple]:
    """The (document, model revision, prompt, truth) of every record already in the log (or its needs_label part)."""
    keys = set()
    for path in shard_paths(folder, config):
        table = pq.read_table(path, columns=list(KEY))
        keys.update(zip(*(table.column(name).to_pylist() for name in KEY), strict=True))
    return keys


def drop_orphans(folder: Path) -> list[Path]:
    """Remove the regression files of runs a kill stopped before their `data/` file (they were never in the log), and
    the files a kill left half-written aside."""
    committed = {path.name for path in shard_paths(folder, "all")}
    orphans = [path for path in shard_paths(folder, "regression") if path.name not in committed]
    orphans += [path for place in CONFIGS.values() for path in (folder / place).glob("*.tmp")]
    for path in orphans:
        path.unlink()
    return orphans


def _parquet(records: list[dict]) -> bytes:
    buffer = io.BytesIO()  # Arrow aborts the process on a full disk; Python's own write raises OSError
    with quiet_datasets():
        Dataset.from_list(records, features=LOG_FEATURES).to_parquet(buffer)
    return buffer.getvalue()


def append(folder: Path, records: list[dict], config: str = "all") -> tuple[list[Path], int]:
    """Add the records not yet logged as this run's files; (files written, records skipped as already logged).
    Unlabelled documents go to `needs_label` alone."""
    drop_orphans(folder)
    known = logged_keys(folder, config)
    fresh, seen = [], set()
    for record in records:
        key = tuple(record[name] for name in KEY)
        if key not in known and key not in seen:
            fresh.append(record)
            seen.add(key)
    if not fresh:
        return [], len(records)
    digest = hashlib.sha256("\n".join(sorted(json.dumps(k) for k in seen)).encode()).hexdigest()[:8]
    name = f"train-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{digest}.parquet"

    def write(config: str, rows: list[dict]) -> Path:
        path = folder / CONFIGS[config] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, _parquet(rows))
        return path

    if config == "needs_label":
        return [write(config, fresh)], len(records) - len(fresh)
    regressions = [record for record in fresh if REGRESSIONS & set(record["error_kinds"])]
    written = [write("regression", regressions)] if regressions else []
    return [write("all", fresh), *written], len(records) - len(fresh)  # logged once the `all` file is there


def statistics(folder: Path) -> dict:
    """What the card says of the whole log: records, runs, error kinds, and where the errors are."""
    columns = ["id", "error_kinds", "layout", "locale", "doc_type", "model", "adapter", "field_accuracy"]
    rows = [row for path in shard_paths(folder, "all") for row in pq.read_table(path, columns=columns).to_pylist()]
    kinds = Counter(kind for row in rows for kind in row["error_kinds"])
    by = lambda key: Counter(row[key] or "unknown" for row in rows).most_common()  # noqa: E731
    return {
        "records": len(rows),
        "runs": len(shard_paths(folder, "all")),
        "documents": len({row["id"] for row in rows}),
        "regressions": sum(pq.read_metadata(path).num_rows for path in shard_paths(folder, "regression")),
        "needs_label": sum(pq.read_metadata(path).num_rows for path in shard_paths(folder, "needs_label")),
        "kinds": [(kind, kinds[kind]) for kind in KINDS if kinds[kind]],
        "layouts": by("layout")[:10],
        "locales": by("locale"),
        "doc_types": by("doc_type"),
        "models": Counter(
            f"{row['model']}" + (f" + {row['adapter']}" if row["adapter"] else "") for row in rows
        ).most_common(),
        "mean_field_accuracy": sum(row["field_accuracy"] for row in rows) / len(rows) if rows else 0.0,
    }


def write_card(folder: Path, repo_id: str | None = None) -> Path:
    """README.md from every file in the log: configs `all`, `regression` and `needs_label` (each when it has files;
    the first is the default), counts by kind."""
    stats = statistics(folder)
    # Each config names its files, not a pattern: the card is where a run is committed, so a kill after a run's
    # files and before its card leaves `load_dataset` the log as it was (and sizes that match it), never a mix; the
    # next run's card takes those files in.
    configs = [
        {"config_name": name, "data_files": [{"split": "train", "path": [f"{place}/{p.name}" for p in paths]}]}
        for name, place in CONFIGS.items()
        if (paths := shard_paths(folder, name))
    ]
    configs[0]["default"] = True
    card_data = DatasetCardData(
        pretty_name="FinScribe mined errors",
        task_categories=["image-to-text", "image-text-to-text"],
        tags=["finscribe", "hard-sample-mining", "invoices", "receipts", "document-ai"],
        configs=configs,
    )
    # Each config's record count in the card's YAML: datasets caches `load_dataset(folder)` by the YAML, and an
    # append must not load the rows of the log as it was.
    infos = {}
    counts = {"all": stats["records"], "regression": stats["regressions"], "needs_label": stats["needs_label"]}
    for config in configs:
        splits = SplitDict()
        splits.add(SplitInfo(name="train", num_examples=counts[config["config_name"]]))
        infos[config["config_name"]] = DatasetInfo(features=LOG_FEATURES, splits=splits)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    card = DatasetCard.from_template(
        card_data, template_str=card_template("mined_errors.md"), stats=stats, repo_id=repo_id or "path/to/this/folder"
    )
    path = folder / "README.md"
    write_atomic(path, str(card).encode())
    return path


def push_log(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload the files the Hub repo lacks, and the card and report, in one commit; nothing remote is ever deleted or
    overwritten but those views of the whole log, so pushing twice, or from two machines, is safe."""
    try:
        api = HfApi()
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        remote = set(api.list_repo_files(repo_id, repo_type="dataset"))
        local = [path for config in CONFIGS for path in shard_paths(folder, config)]
        operations = [
            CommitOperationAdd(path_in_repo=str(path.relative_to(folder)), path_or_fileobj=str(path))
            for path in local
            if str(path.relative_to(folder)) not in remote
        ]
        new = len(operations)
        views = [name for name in VIEWS if (folder / name).is_file()]  # rewritten from the whole log each run
        operations += [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in views]
        commit = api.create_commit(
            repo_id, repo_type="dataset", operations=operations, commit_message=f"Mined errors: {new} new file(s)"
        )
        return commit.commit_url
    except Exception as error:  # offline, unauthorised, forbidden: the local log stays as it is
        raise PushError(f"could not push {folder} to {repo_id}: {first_line(error)}; the local log is intact") from None
