"""One dataset row from (seed, index): a document, its pages, boxes, table, text and JPEGs.

Sample i depends only on (seed, i) and the arguments, never on other samples or on which process makes it,
so a run can be resumed or sharded across processes and machines.
"""

import importlib
import math
import random
from dataclasses import replace
from functools import cache

import numpy as np
from faker import Faker

from trainer.data.document_dataset import document_row
from trainer.schema.document import DOCUMENT_TYPES, canonical_json, get_path, scalar_paths, validate
from trainer.tables import grid_to_otsl

from . import invoice, receipt
from .augment import augment, encode
from .focus import Focus
from .fonts import families_for
from .locales import COUNTRIES, MIXED
from .malaysia import MalaysiaProvider
from .marks import add_marks
from .print_effects import print_effects

# Each document type of the schema has a generator module of the same name here: data, layouts, rendering.
DOC_TYPES = {name: importlib.import_module(f"trainer.synth.{name}") for name in DOCUMENT_TYPES}
LONG_SHARES = {"receipt": receipt.LONG, "invoice": invoice.LONG}  # long slips and long orders, by default


@cache
def faker_for(locale: str) -> Faker:
    """A Faker for the locale (building one costs ~1 ms; each sample reseeds it); Malaysia's is ours on top of
    en_US, as Faker has none."""
    if locale == "ms_MY":
        fake = Faker("en_US")
        fake.add_provider(MalaysiaProvider)
        return fake
    return Faker(locale)


def make_sample(
    seed: int, index: int, doc_types: tuple[str, ...], locales: tuple[str, ...], focus: Focus | None = None,
    long_receipts: float = receipt.LONG, long_invoices: float = invoice.LONG,
) -> dict:  # fmt: skip
    """Sample i of a seed: its document, drawn pages, scan effects and JPEGs, as a dataset row. With a `focus`, the
    document type, locale, layout and number of line items are drawn where a mined log's errors are;
    `long_receipts` is the share of receipts that are a long supermarket slip, `long_invoices` that of invoices for
    a long order, which runs on to further pages."""
    shares = {"receipt": long_receipts, "invoice": long_invoices}
    rng, doc, pages, grid, layout, locale = draw_document(seed, index, doc_types, locales, focus, shares)
    noise = np.random.default_rng([seed, index])
    files, features, placed, texts = [], [f for page in pages for f in page.features], {}, []
    for number, page in enumerate(pages):  # each page scanned on its own
        boxes = [box for _, box in page.fields.values()]
        image, move, applied, quality = augment(page.image, rng, noise, doc["doc_type"] == "receipt", boxes)
        files.append(encode(image, quality))
        texts.append(page.reading_text(move.inside))  # what the capture kept of the page
        features += applied
        for path, (value, box) in page.fields.items():
            x0, y0, x1, y1 = move(box)
            bbox = [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]
            placed[path] = {"name": path, "value": value, "bbox": bbox, "page": number}
    return document_row(
        f"synth-{seed}-{index:07d}", files[0], doc, grid=grid, text="\n".join(texts), layout=layout, locale=locale,
        fields=[placed[path] for path in scalar_paths(doc) if path in placed],  # the label's order
        augmentations=list(dict.fromkeys(features)), seed=seed, more_pages=files[1:],
    )  # fmt: skip


def sample_text(seed: int, index: int, doc_types: tuple[str, ...], locales: tuple[str, ...]) -> list[str]:
    """What sample i says in words (its canonical JSON, page text and OTSL table), without scanning its page:
    the text a tokenizer learns from."""
    _, doc, pages, grid, _, _ = draw_document(seed, index, doc_types, locales)
    return [canonical_json(doc), _text(pages), grid_to_otsl(grid) if grid else ""]


def _text(pages: list) -> str:
    """A document's text: its pages' in reading order, one after the other."""
    return "\n".join(page.reading_text() for page in pages)


def draw_document(
    seed: int, index: int, doc_types: tuple[str, ...], locales: tuple[str, ...], focus: Focus | None = None,
    long_shares: dict[str, float] = LONG_SHARES,
):  # fmt: skip
    """Sample i's document, drawn on clean pages with the boxes of the printed fields, checked against its label."""
    rng = random.Random(f"finscribe:{seed}:{index}")
    if focus is None:
        doc_type, locale = rng.choice(doc_types), rng.choice(locales)
    else:
        doc_type, locale = focus.doc_type(doc_types, rng), focus.locale(locales, rng)
    module, country, fake = DOC_TYPES[doc_type], COUNTRIES[locale], faker_for(locale)
    fake.seed_instance(rng.getrandbits(64))
    if country.mixed and rng.random() < MIXED:
        country = replace(country, second=rng.choice(country.mixed))
    count = None if focus is None else focus.item_count(doc_type, module.ITEM_COUNTS, rng)
    doc = module.generate(fake, rng, country, count, long_share=long_shares[doc_type])
    if violations := validate(doc):
        raise RuntimeError(f"generated {doc_type} {index} is invalid: {violations}")
    layouts = list(module.layouts(doc))
    layout = rng.choice(layouts) if focus is None else focus.layout(doc_type, layouts, rng)
    pages, grid = module.render(doc, layout, rng, fake, country, rng.choice(families_for(country.languages, doc_type)))
    if country.second:
        pages[0].features.append(f"pages/mixed-{country.second}")
    printed = [path for path in scalar_paths(doc) if get_path(doc, path) is not None]  # null: not printed
    drawn = [path for page in pages for path in page.fields]
    labelled = set(drawn)
    if missing := [path for path in printed if path not in labelled]:
        raise RuntimeError(f"layout {layout!r} does not print {missing}")
    if extra := sorted(labelled - set(printed)):
        raise RuntimeError(f"layout {layout!r} prints {extra}, which the label says it does not")
    if len(labelled) < len(drawn):
        raise RuntimeError(f"layout {layout!r} labels a field on more than one page")
    print_effects(pages, f"{doc_type}/{layout}", rng)  # how it was printed, then what people did to it
    for page in pages:
        add_marks(page, doc, rng, locale)
    return rng, doc, pages, grid, f"{doc_type}/{layout}", locale
