"""python bench/mine.py [--readings 5000] [--records 10000] [--output bench/results/mine.json]

Hard-sample mining's two costs, measured in one run on this machine:
- classification: `classify_errors` on generated documents read back with the errors models make (no JSON, a cut,
  a loop, wrong digits, dates as printed, fields dropped or invented, rows lost, merged or invented), readings per
  second on one core; target ≥ 2,000.
- the log: appending 10,000 records (each with a real generated page) to an empty log, then the same records again
  (all skipped as already logged), records per second.
"""

import argparse
import copy
import json
import random
import tempfile
import time
from pathlib import Path

from common import write_result

from trainer.data.document_dataset import FEATURES
from trainer.mining.classify import classify_errors, severity
from trainer.mining.log import append
from trainer.synth.generate import DOC_TYPES, faker_for, make_sample
from trainer.synth.locales import COUNTRIES


def documents(count: int, seed: int = 0) -> list[dict]:
    """Labels straight from the generator (no page drawn): every type and locale."""
    docs = []
    for index in range(count):
        rng = random.Random(f"bench:{seed}:{index}")
        doc_type, locale = rng.choice(list(DOC_TYPES)), rng.choice(list(COUNTRIES))
        fake = faker_for(locale)
        fake.seed_instance(rng.getrandbits(64))
        docs.append(DOC_TYPES[doc_type].generate(fake, rng, COUNTRIES[locale]))
    return docs


def misread(doc: dict, rng: random.Random) -> str:
    """One reading of a document with the errors models make, in the shares they roughly come in."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    roll = rng.random()
    if roll < 0.25:
        return text  # right
    if roll < 0.32:
        return text[: rng.randint(10, len(text) - 1)]  # cut by the token limit
    if roll < 0.37:
        return text[: len(text) // 2] + '{"quantity":"1"},' * 40  # a loop
    if roll < 0.40:
        return "I cannot read this document."
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 5)):
        change = rng.randrange(6)
        items = doc.get("line_items") or []
        if change == 0 and doc.get("total"):
            doc["total"] = doc["total"][:-1] + str((int(doc["total"][-1]) + 1) % 10)  # one digit off
        elif change == 1:
            date_key = "issue_date" if "issue_date" in doc else "date"
            if "-" in (doc.get(date_key) or ""):
                year, month, day = doc[date_key].split("-")
                doc[date_key] = f"{day}/{month}/{year}"  # as printed
        elif change == 2:
            doc.pop(rng.choice([k for k in doc if k != "doc_type"]), None)  # a field not read
        elif change == 3 and len(items) > 1:
            items.pop(rng.randrange(len(items)))  # a row lost
        elif change == 4 and items:
            items.append(dict(items[-1], description="Extra"))  # a row invented
        elif change == 5 and len(items) > 1:
            first, second = items[0], items.pop(1)  # two rows read as one
            first["description"] = f"{first.get('description')} {second.get('description')}"
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def bench_classify(count: int) -> dict:
    docs = documents(count)  # every reading of another document: no cache sees a value twice by design
    rng = random.Random(0)
    pairs = [(misread(doc, rng), doc) for doc in (docs[i % len(docs)] for i in range(count))]
    classify_errors(*pairs[0])  # caches (dateparser's languages, Babel's locales) warm once
    best = float("inf")
    for _ in range(3):
        start = time.process_time()  # one process, one thread: CPU seconds of one core
        found = [classify_errors(reading, truth) for reading, truth in pairs]
        best = min(best, time.process_time() - start)
    kinds = {}
    for errors in found:
        for error in errors:
            kinds[error.kind] = kinds.get(error.kind, 0) + 1
    return {
        "readings": count,
        "cpu_seconds": round(best, 3),
        "readings_per_second": round(count / best),
        "with_errors": sum(bool(errors) for errors in found),
        "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
    }


def bench_append(count: int) -> dict:
    pages = [make_sample(0, index, tuple(DOC_TYPES), tuple(COUNTRIES)) for index in range(8)]  # real page bytes
    rng = random.Random(1)
    records = []
    for index in range(count):
        row = pages[index % len(pages)]
        reading = misread(json.loads(row["ground_truth"]), rng)
        errors = classify_errors(reading, json.loads(row["ground_truth"]))
        records.append({
            **{name: row[name] for name in FEATURES}, "id": f"bench-{index:06d}", "source_dataset": "bench",
            "source_revision": "0", "model": "bench", "adapter": "", "model_revision": "0", "task": "extract",
            "prompt": "Information Extraction (JSON):", "reading": reading, "baseline_reading": "",
            "errors": [{"kind": e.kind, "path": p} for e in errors for p in (e.paths or ("",))],
            "error_kinds": [e.kind for e in errors], "field_accuracy": 0.5, "severity": severity(errors),
            "label_valid": True, "mined_at": "2026-01-01T00:00:00+00:00",
        })  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        written, _ = append(Path(folder), records)
        first = time.perf_counter() - start
        size = sum(path.stat().st_size for path in written)
        start = time.perf_counter()
        again, skipped = append(Path(folder), records)
        second = time.perf_counter() - start
    return {
        "records": count,
        "mean_page_kb": round(sum(len(row["image"]["bytes"]) for row in pages) / len(pages) / 1024, 1),
        "append_seconds": round(first, 2),
        "records_per_second": round(count / first),
        "log_mb": round(size / 2**20, 1),
        "append_again_seconds": round(second, 2),
        "skipped_again": skipped,
        "files_written_again": len(again),
    }


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--readings", type=int, default=5000)
    cli.add_argument("--records", type=int, default=10000)
    cli.add_argument("--output", default="bench/results/mine.json")
    args = cli.parse_args()
    classify = bench_classify(args.readings)
    result = {
        "benchmark": "trainer.mining: classify_errors throughput (one core, best of 3) and appends to the mined log",
        "classify": classify,
        "append": bench_append(args.records),
        "target_readings_per_second": 2000,
        "meets_target": classify["readings_per_second"] >= 2000,
    }  # fmt: skip
    write_result(args.output, result)


if __name__ == "__main__":
    main()
