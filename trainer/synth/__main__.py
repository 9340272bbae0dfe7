"""python -m trainer.synth --num-samples 8000 --output-dir data/synthetic_documents [--seed 0] [--doc-types invoice,receipt]
[--locales en_US,de_DE,...] [--long-receipts 0.1] [--long-invoices 0.1] [--focus data/mined] [--num-proc N] [--resume | --overwrite] [--push-to-hub USER/REPO]

Generate synthetic invoices and receipts with perfect labels as a Hugging Face dataset folder (Parquet shards,
dataset card, contact sheet) that `datasets.load_dataset(output_dir)` opens; optionally upload it to the Hub.
"""

import os
from dataclasses import asdict, dataclass, field
from functools import partial

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data import document_dataset
from trainer.errors import InputError
from trainer.folders import claim, keep_settings
from trainer.publish import push_folder

from . import invoice, receipt
from .focus import Focus
from .fonts import PACKAGES, missing_fonts
from .generate import DOC_TYPES, make_sample
from .locales import COUNTRIES
from .writer import STATE, write_documents


@dataclass
class SynthArguments:
    num_samples: int = field(default=1000, metadata={"help": "How many documents to generate."})
    output_dir: str = field(default=document_dataset.DEFAULT_DATASET, metadata={"help": "Dataset folder to write."})
    seed: int = field(default=0, metadata={"help": "Sample i is a function of (seed, i) alone."})
    doc_types: str = field(
        default=",".join(DOC_TYPES), metadata={"help": f"Comma-separated, from {', '.join(DOC_TYPES)}."}
    )
    locales: str = field(
        default=",".join(COUNTRIES), metadata={"help": f"Comma-separated, from {', '.join(COUNTRIES)}."}
    )
    long_receipts: float = field(
        default=receipt.LONG,
        metadata={"help": "Share of receipts that are a week's shop on a supermarket slip (20-40 lines); 0 for none "
                  "(the quickstart's stand-in, whose answers stop at 512 tokens)."},
    )  # fmt: skip
    long_invoices: float = field(
        default=invoice.LONG,
        metadata={"help": "Share of invoices for a long order (14-40 lines), which runs on to a second or third "
                  "page; 0 for none (the quickstart's)."},
    )  # fmt: skip
    num_proc: int = field(default=os.cpu_count() or 1, metadata={"help": "Worker processes."})
    chunk_size: int = field(default=250, metadata={"help": "Samples per Parquet chunk (the unit of resuming)."})
    resume: bool = field(default=False, metadata={"help": "Continue an interrupted run in output_dir."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a dataset already in output_dir."})
    push_to_hub: str | None = field(
        default=None, metadata={"help": "Upload the folder to this Hub dataset repo (USER/REPO)."}
    )
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})
    focus: str | None = field(
        default=None,
        metadata={"help": "A mined log (trainer.mine): draw document types, locales, layouts and line-item counts "
                  "where its errors concentrate."},
    )  # fmt: skip

    def __post_init__(self):
        self.doc_types = tuple(t.strip() for t in self.doc_types.split(",") if t.strip())
        self.locales = tuple(loc.strip() for loc in self.locales.split(",") if loc.strip())
        if self.num_samples <= 0:
            raise InputError(f"--num-samples must be positive, got {self.num_samples}")
        for what, given, known in (("document type", self.doc_types, DOC_TYPES), ("locale", self.locales, COUNTRIES)):
            if unknown := [name for name in given if name not in known]:
                raise InputError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
            if not given:
                raise InputError(f"no {what} given; choose from {', '.join(known)}")
        for name in ("long_receipts", "long_invoices"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"--{name.replace('_', '-')} is a share between 0 and 1, got {getattr(self, name)}")
        if self.num_proc < 1 or self.chunk_size < 1:
            raise InputError("--num-proc and --chunk-size must be at least 1")
        if self.resume and self.overwrite:
            raise InputError("--resume and --overwrite exclude each other")
        if missing := missing_fonts(
            {lang for loc in self.locales for lang in (COUNTRIES[loc].language, *COUNTRIES[loc].mixed)}
        ):
            raise InputError(f"fonts missing: {', '.join(missing)}; run `make fonts` (Debian's {PACKAGES})")
        if self.push_to_hub is not None and self.push_to_hub.count("/") != 1:
            raise InputError(f"--push-to-hub takes USER/REPO, got {self.push_to_hub!r}")
        self.focused = Focus.from_log(self.focus) if self.focus else None

    def recipe(self) -> dict:
        """What determines the bytes written: a resumed run must match it."""
        recipe = {
            k: v
            for k, v in asdict(self).items()
            if k in ("num_samples", "seed", "doc_types", "locales", "long_receipts", "long_invoices", "chunk_size")
        }
        return recipe | ({"focus": self.focused.summary()} if self.focused else {})


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(SynthArguments).parse_args_into_dataclasses(argv)
    kept = f"finished chunks are kept; continue with --resume --output-dir {args.output_dir}"
    folder = claim(args.output_dir, "trainer.synth", overwrite=args.overwrite, resume=args.resume, inputs=[args.focus])
    with one_line_errors(interrupted=kept), folder as output_dir:  # folder and disk: the user's to fix
        keep_settings(output_dir, f"{STATE}/args.json", args.recipe(), args.resume)  # a resumed run: the same
        make = partial(
            make_sample, args.seed, doc_types=args.doc_types, locales=args.locales, focus=args.focused,
            long_receipts=args.long_receipts, long_invoices=args.long_invoices,
        )  # fmt: skip
        write_documents(output_dir, make, args.num_samples, args.chunk_size, args.num_proc)
        labels = document_dataset.read_labels(output_dir)
        stats = document_dataset.statistics(labels)
        sheet = document_dataset.contact_sheet(output_dir)
        document_dataset.write_card(output_dir, stats, args.recipe(), args.push_to_hub)
    print(f"\nWrote {stats['num_documents']} documents to {output_dir}/")
    print("  splits: " + ", ".join(f"{split} {count}" for split, count in stats["splits"].items()))
    print("  types:  " + ", ".join(f"{key} {count}" for key, count, _ in stats["doc_types"]))
    print("  locales: " + ", ".join(key for key, _, _ in stats["locales"]))
    print(f"  card: {output_dir / 'README.md'}\n  contact sheet: {sheet}")
    print(f'  load it with: datasets.load_dataset("{output_dir}")')
    if args.push_to_hub:
        with one_line_errors():  # the Hub refused or is unreachable: the folder stays as written
            url = push_folder(output_dir, args.push_to_hub, "dataset", args.private, ignore=(f"{STATE}/*",))
        print(f"Pushed to {url}")


if __name__ == "__main__":
    main()
