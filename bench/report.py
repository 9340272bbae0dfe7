"""python bench/report.py [--results bench/results] [--output docs/benchmarks.md]

docs/benchmarks.md, written from the benchmarks' JSON alone: for each result, what it measured, on which machine,
at which commit and on which date, then its figures as they were written. No figure on the page is typed by hand,
so none can drift from its JSON; rerun this after a benchmark.
"""

import argparse
import json
from pathlib import Path

PROVENANCE = ("commit", "date", "device", "torch", "cpu_flags", "cuda", "driver_and_memory")
SKIPPED = {"benchmark", "machine", *PROVENANCE}


def cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).replace("|", "\\|")


def table(rows: dict[str, dict]) -> list[str]:
    """A Markdown table of rows of scalars, a column per key any row has."""
    columns = list(dict.fromkeys(key for row in rows.values() for key, value in row.items() if not is_nested(value)))
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [
        f"| {name} | " + " | ".join(cell(row.get(key, "")) for key in columns) + " |" for name, row in rows.items()
    ]
    return lines


def is_nested(value) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(item, dict) for item in value))


def section(name: str, result: dict) -> list[str]:
    when = (
        f"commit `{result['commit'][:7]}`, {result['date']}" if "commit" in result else "commit and date not recorded"
    )
    where = result.get("device") or result.get("machine") or "machine not recorded"
    flags = f"; CPU flags {', '.join(result['cpu_flags'])}" if result.get("cpu_flags") else ""
    lines = [f"## {name}", "", f"{result.get('benchmark', '')}", "", f"*{when}; {where}{flags}.* "
             f"[`bench/results/{name}.json`](../bench/results/{name}.json)", ""]  # fmt: skip
    scalars = {key: value for key, value in result.items() if key not in SKIPPED and not is_nested(value)}
    lines += [f"- {key}: {cell(value)}" for key, value in scalars.items()]
    for key, value in result.items():
        if key in SKIPPED or not is_nested(value):
            continue
        rows = dict(enumerate(value)) if isinstance(value, list) else value
        if all(isinstance(row, dict) for row in rows.values()):
            names = {k: str(row.get("variant") or row.get("method") or row.get("name") or k) for k, row in rows.items()}
            repeated = [name for name in names.values() if list(names.values()).count(name) > 1]
            named = {f"{names[k]} ({k})" if names[k] in repeated else names[k]: row for k, row in rows.items()}
            lines += ["", f"**{key}**", "", *table(named)]
        else:
            lines += ["", f"**{key}**", "", *(f"- {k}: {cell(v)}" for k, v in rows.items())]
    return [*lines, ""]


def main():
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--results", default="bench/results")
    cli.add_argument("--output", default="docs/benchmarks.md")
    args = cli.parse_args()
    results = {path.stem: json.loads(path.read_text()) for path in sorted(Path(args.results).glob("*.json"))}
    lines = [
        "# Benchmarks",
        "",
        "Every figure below is copied by `python bench/report.py` from the JSON a benchmark wrote (`make bench` on a",
        "CPU; `bash bench/gpu.sh` on a GPU, see [gpu.md](gpu.md)). Compare ratios measured in one run: these",
        "machines' speed varies from day to day.",
        "",
    ]
    for name, result in results.items():
        lines += section(name, result)
    Path(args.output).write_text("\n".join(lines).rstrip() + "\n")
    print(f"Wrote {args.output} from {len(results)} results")


if __name__ == "__main__":
    main()
