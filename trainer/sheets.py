"""python -m trainer.sheets [--output-dir docs] [--seed 0]

One contact sheet per family of the generator's realism features (shape, print, marks, codes, pages), written as
`realism_<family>.jpg`, for the docs and for looking at: for each feature, the first document of the seed that
carries it, whole, and the page at full size around its total.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.synth.sheets import FAMILIES, find_examples, sheet


@dataclass
class SheetArguments:
    output_dir: str = field(default="docs", metadata={"help": "Folder for the realism_<family>.jpg sheets."})
    seed: int = field(default=0, metadata={"help": "Generator seed whose pages are shown."})
    max_samples: int = field(default=3000, metadata={"help": "Give up on a feature after this many samples."})


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(SheetArguments).parse_args_into_dataclasses(argv)
    examples = find_examples(args.seed, args.max_samples)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for family, names in FAMILIES.items():
        path = output / f"realism_{family}.jpg"
        sheet(names, examples).save(path, quality=85)
        missing = [name for name in names if name not in examples]
        print(
            f"{path}: {', '.join(n for n in names if n in examples)}" + (f" (not found: {missing})" if missing else "")
        )
    print(json.dumps({name: row["id"] for name, row in sorted(examples.items())}))


if __name__ == "__main__":
    main()
