"""python -m trainer.data.build --crops-dir DIR --annotations-dir DIR --output-dir DIR [--format canonical|sroie|cord|docile]
[--max-pages 8] [--allow-invalid-arithmetic] [--resume | --overwrite]

Turn your own labelled documents into FinScribe's document dataset (the format `trainer.synth` writes, with its
card): images (PNG, JPEG, WebP, TIFF, PDF) in --crops-dir, and beside each an annotation in --annotations-dir named
after it: `scan_017.json` for `scan_017.png`; `bill.json` for all of `bill.pdf` (one document of up to --max-pages
pages), or `bill_p2.json` for its page 2 alone. Annotations are in the canonical schema, any of its keys left out
where not labelled, or SROIE key files (`X51005200938.txt`), CORD ground truths or DocILE annotations
(--crops-dir docile/pdfs --annotations-dir docile/annotations), imported by `trainer.data.importers`. A bad sample
is skipped and listed with its reason in `rejects.jsonl`, and every valid sample is kept; fields an import could not
place are named in `notes.jsonl`. Pages are written in chunks, so memory holds one chunk at a time, and an
interrupted build continues with `--resume`.
"""

import sys

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data import document_dataset
from trainer.data.user_files import (
    BuildArguments,
    build,
    card_args,
    check_state,
    kind,
    most_common,
    write_jsonl,
)
from trainer.errors import InputError
from trainer.folders import claim


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(BuildArguments).parse_args_into_dataclasses(argv)
    kept = f"finished chunks are kept; continue with --resume --output-dir {args.output_dir}"
    folder = claim(args.output_dir, "trainer.data.build", overwrite=args.overwrite, resume=args.resume,
                   inputs=[args.crops_dir, args.annotations_dir])  # fmt: skip
    with one_line_errors(interrupted=kept), folder as output:
        check_state(args, output)
        built = build(args, output)
        rejects, notes = built["rejects"], built["notes"]
        write_jsonl(output / "rejects.jsonl", rejects)  # written even when nothing is kept: it says why
        if notes:
            write_jsonl(output / "notes.jsonl", notes)
        if not built["ids"]:
            common = most_common(kind(r["reason"]) for r in rejects)
            listed = output / "rejects.jsonl"
            raise InputError(
                f"no valid sample in {args.crops_dir}: all {len(rejects)} rejected ({common}); see {listed}"
            )
        labels = document_dataset.read_labels(output)
        stats = document_dataset.statistics(labels)
        document_dataset.contact_sheet(output)
        document_dataset.write_card(output, stats, card_args(args, built, labels), None, synthetic=False)
    splits = ", ".join(f"{s} {n}" for s, n in stats["splits"].items())
    print(f"Kept {len(built['ids'])} documents ({sum(built['pages'])} pages) in {output}/ ({splits})")
    if notes:
        dropped = most_common(kind(d) for note in notes for d in note["dropped"])
        listed = output / "notes.jsonl"
        print(f"{len(notes)} kept with fields left unlabelled, listed in {listed}: {dropped}", file=sys.stderr)
    if rejects:
        listed = most_common(kind(r["reason"]) for r in rejects)
        print(f"Rejected {len(rejects)}, listed in {output / 'rejects.jsonl'}: {listed}", file=sys.stderr)


if __name__ == "__main__":
    main()
