"""Targeted re-synthesis: draw the generator's conditions where a mined log's errors concentrate.

`Focus.from_log(folder)` counts the logged records (trainer.mine) by document type, locale, layout and number of
line items, and the generator then draws each condition in proportion to a mix of its usual draw and the errors'
share: `UNIFORM` of the usual draw keeps every condition in the set, the rest follows the errors. Prices with tax
included and cash rounding follow with the locale and the document type, which decide them. Labels stay perfect:
only which documents are drawn changes, not how they are made.
"""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from trainer.errors import InputError

UNIFORM = 0.25  # share of each draw that stays the generator's usual one


def _mix(usual: dict, errors: Counter) -> dict:
    """Each value's weight: UNIFORM of its usual share, the rest its share of the errors (the usual alone without)."""
    total_usual, total_errors = sum(usual.values()), sum(errors[v] for v in usual)
    if not total_errors:
        return {value: weight / total_usual for value, weight in usual.items()}
    return {
        value: UNIFORM * weight / total_usual + (1 - UNIFORM) * errors[value] / total_errors
        for value, weight in usual.items()
    }


def _draw(weights: dict, rng: random.Random):
    values = list(weights)
    return rng.choices(values, weights=[weights[v] for v in values])[0]


@dataclass(frozen=True)
class Focus:
    source: str
    doc_types: Counter = field(default_factory=Counter)
    locales: Counter = field(default_factory=Counter)
    layouts: Counter = field(default_factory=Counter)  # "invoice/classic"
    items: Counter = field(default_factory=Counter)  # "invoice/7": invoices with 7 line items

    @classmethod
    def from_log(cls, folder: str | Path) -> "Focus":
        files = sorted(Path(folder).glob("data/train-*.parquet"))
        if not files:
            raise InputError(f"--focus {folder} is no mined log (no data/train-*.parquet): make one with trainer.mine")
        columns = ["doc_type", "locale", "layout", "ground_truth"]
        rows = [row for f in files for row in pq.read_table(f, columns=columns).to_pylist()]
        counts = Counter()
        for row in rows:
            items = json.loads(row["ground_truth"] or "{}").get("line_items")
            counts[f"{row['doc_type']}/{len(items)}"] += isinstance(items, list)
        return cls(
            source=str(folder),
            doc_types=Counter(row["doc_type"] for row in rows),
            locales=Counter(row["locale"] for row in rows),
            layouts=Counter(row["layout"] for row in rows),
            items=counts,
        )

    def doc_type(self, doc_types: tuple[str, ...], rng: random.Random) -> str:
        return _draw(_mix(Counter(doc_types), self.doc_types), rng)

    def locale(self, locales: tuple[str, ...], rng: random.Random) -> str:
        return _draw(_mix(Counter(locales), self.locales), rng)

    def layout(self, doc_type: str, layouts: list[str], rng: random.Random) -> str:
        errors = Counter({name: self.layouts[f"{doc_type}/{name}"] for name in layouts})
        return _draw(_mix(Counter(layouts), errors), rng)

    def item_count(self, doc_type: str, usual: tuple[int, ...], rng: random.Random) -> int:
        """How many line items, from the generator's usual draw (`usual`, repeats weighing more) mixed with the
        logged documents of this type; counts it never draws are left out."""
        errors = Counter({n: self.items[f"{doc_type}/{n}"] for n in set(usual)})
        return _draw(_mix(Counter(usual), errors), rng)

    def summary(self) -> dict:
        """The log's counts behind the draws, for the dataset card and the resume check."""
        return {
            "source": self.source,
            **{name: dict(getattr(self, name).most_common()) for name in ("doc_types", "locales", "layouts", "items")},
        }
