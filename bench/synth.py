"""python bench/synth.py [--num-samples 400] [--output bench/results/synth.json]

Documents per second of `python -m trainer.synth` at default settings (every feature on at its default share,
Parquet written), with 1 and 2 processes, measured in the same run; then, in one process, what each stage and each
feature of realism costs: the time spent in the code that draws it, per document that has it and averaged over all
documents. Target: ≥ 25 documents/s with 2 processes on a 2-core machine.
"""

import argparse
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import partial

from common import write_result

from trainer.folders import claim
from trainer.synth import augment, fapiao, generate, invoice_layouts, marks, print_effects, receipt_layouts
from trainer.synth.generate import DOC_TYPES, make_sample
from trainer.synth.locales import COUNTRIES
from trainer.synth.page import Page
from trainer.synth.writer import write_documents

TARGET = 25.0


def measure(num_samples: int, num_proc: int) -> dict:
    with tempfile.TemporaryDirectory() as folder, claim(folder, "bench/synth.py") as output_dir:
        make = partial(make_sample, 0, doc_types=tuple(DOC_TYPES), locales=tuple(COUNTRIES))  # the default mix
        start = time.perf_counter()
        write_documents(output_dir, make, num_samples, num_proc=num_proc)  # render, augment, encode, write Parquet
        seconds = time.perf_counter() - start
    return {
        "num_proc": num_proc,
        "num_samples": num_samples,
        "seconds": round(seconds, 2),
        "docs_per_s": round(num_samples / seconds, 1),
    }


# (module, public function) -> the feature whose cost it is; each is timed wherever it is called from
TIMED = {
    (invoice_layouts, "draw_logo"): "marks/logo",
    (receipt_layouts, "draw_logo"): "marks/logo",
    (print_effects, "thermal_print"): "print/thermal",
    (print_effects, "dot_matrix_print"): "print/dot-matrix",
    (invoice_layouts, "draw_payment_qr"): "codes/qr (draw)",
    (invoice_layouts, "payment_qr"): "codes/qr (payload)",
    (receipt_layouts, "barcode_image"): "codes/barcode",
    (invoice_layouts, "draw_details"): "pages/dense",
    (fapiao, "render"): "pages/fapiao",
    (Page, "spaced_line"): "print/letter-spaced",
    (augment, "scan_flatbed"): "shape/flatbed",
    (augment, "curl_page"): "shape/curl",
    (augment, "cut_off_edge"): "shape/cut-off",
    (augment, "light_unevenly"): "photo lighting",
    (augment, "fold_page"): "shape/fold",
}
STAGES = {(generate, "draw_document"): "stage: draw (render, print, marks)", (generate, "augment"): "stage: scan effects",
          (generate, "encode"): "stage: JPEG"}  # fmt: skip


def stopwatch(function, label: str, seconds: dict, calls: dict):
    """`function`, adding its time (that of what it calls included) and one call under `label` each time it runs."""

    def timed_function(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - start
            calls[label] += 1

    return timed_function


@contextmanager
def timed(seconds: dict, calls: dict):
    """Time each stage and feature while inside: the functions above, and the marks through their table `marks.DRAW`."""
    originals, drawers = {key: getattr(*key) for key in {**TIMED, **STAGES}}, dict(marks.DRAW)
    for (module, name), label in {**TIMED, **STAGES}.items():
        setattr(module, name, stopwatch(originals[module, name], label, seconds, calls))
    marks.DRAW.update({name: stopwatch(draw, f"marks/{name}", seconds, calls) for name, draw in drawers.items()})
    try:
        yield
    finally:
        for (module, name), function in originals.items():
            setattr(module, name, function)
        marks.DRAW.update(drawers)


def features(num_samples: int) -> dict:
    """Per stage and feature: milliseconds per document that has it, and averaged over every document."""
    seconds, calls, has = defaultdict(float), defaultdict(int), defaultdict(int)
    long_render, invoices = defaultdict(list), defaultdict(list)
    start = time.perf_counter()
    with timed(seconds, calls):
        for index in range(num_samples):
            began = time.perf_counter()
            row = make_sample(0, index, doc_types=tuple(DOC_TYPES), locales=tuple(COUNTRIES))
            if row["layout"] == "receipt/supermarket":
                long_render["shape/long-receipt" in row["augmentations"]].append(time.perf_counter() - began)
            if row["doc_type"] == "invoice":
                invoices[len(row["more_pages"]) > 0].append(time.perf_counter() - began)
            for name in set(row["augmentations"]):
                has[name] += 1
    total = time.perf_counter() - start

    def cost(documents: int, spent: float) -> dict:
        return {
            "documents_with_it": documents,
            "ms_per_document_with_it": round(1000 * spent / max(1, documents), 2),
            "ms_per_document_overall": round(1000 * spent / num_samples, 2),
        }

    table = {label: cost(num_samples, seconds[label]) for label in STAGES.values()}
    marks_drawn = [f"marks/{name}" for name in marks.DRAW]
    table |= {label: cost(has.get(label, calls[label]), seconds[label]) for label in [*marks_drawn, *TIMED.values()]}
    # a long slip costs its lines' drawing, further pages their lines, scans and JPEGs: whole samples compared
    for label, times in (("shape/long-receipt (vs a short supermarket slip)", long_render),
                         ("pages/multi-page (vs a one-page invoice)", invoices)):  # fmt: skip
        if times[True] and times[False]:
            extra = sum(times[True]) / len(times[True]) - sum(times[False]) / len(times[False])
            table[label] = cost(len(times[True]), extra * len(times[True]))
    return {"num_samples": num_samples, "ms_per_document": round(1000 * total / num_samples, 2), "costs": table}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=400)
    parser.add_argument("--output", default="bench/results/synth.json")
    cli = parser.parse_args()
    measure(20, 1)  # warm-up: fonts, Faker locales, Babel data
    runs = [measure(cli.num_samples, n) for n in (1, 2)]
    costs = features(cli.num_samples)
    result = {
        "benchmark": "trainer.synth documents per second, default settings (every feature on at its default share)",
        "runs": runs,
        "speedup_2_vs_1": round(runs[1]["docs_per_s"] / runs[0]["docs_per_s"], 2),
        "target_docs_per_s": TARGET,
        "meets_target": runs[1]["docs_per_s"] >= TARGET,
        "feature_costs_one_process": costs,
    }
    write_result(cli.output, result)


if __name__ == "__main__":
    main()
