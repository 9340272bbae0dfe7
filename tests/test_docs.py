"""The README stays a front page, the docs speak to users rather than of the project's history, and the benchmark page
is the one bench/report.py writes from the JSON results, so no figure on it was typed by hand."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORY = re.compile(r"\b(issues? \d+|(this|last|previous|earlier) session|(earlier|previous) runs?|no longer)\b", re.I)


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 20_000
    assert "make quickstart" in readme and "make test" in readme and "## Files" in readme


def test_no_doc_page_tells_the_projects_history():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            assert not HISTORY.search(line), f"{page.name}:{number}: {line}"


def test_the_benchmark_page_is_written_from_the_results(tmp_path):
    written = tmp_path / "benchmarks.md"
    command = [sys.executable, "bench/report.py", "--output", str(written)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    assert written.read_text() == (ROOT / "docs" / "benchmarks.md").read_text(), "run python bench/report.py"
