"""Output folders: one writer at a time, and FinScribe replaces only what FinScribe made.

Every command that writes a dataset, model, run or evaluation folder holds `claim(folder, ...)` while it writes:
an exclusive lock (`.finscribe.lock`, through filelock) that a second writer meets and stops at with one line,
a check that the folder can be written before any work starts, and a marker (`.finscribe`) put in a folder
FinScribe creates or finds empty. Only a folder with that marker is ever cleared by `--overwrite`: a folder
without it may hold the user's own files.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from trainer.errors import InputError, first_line

MARKER = ".finscribe"  # {"made_by": "trainer.synth"}: what made the folder
LOCK = ".finscribe.lock"  # stays after a run (removing it races a waiting writer); hidden, never pushed
HIDDEN = (MARKER, LOCK)
LEGACY_MARKERS = (".synth/args.json",)  # folders trainer.synth wrote before the marker existed


def made_by_finscribe(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (MARKER, *LEGACY_MARKERS))


def is_empty(folder: Path) -> bool:
    """No entries but FinScribe's lock (and marker): nothing of anyone's to lose."""
    return folder.is_dir() and all(entry.name in HIDDEN for entry in folder.iterdir())


def check_writable(folder: Path):
    """Create and delete a file in the folder: a read-only or missing mount fails here, before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise InputError(f"cannot write to {folder}: {error.strerror or first_line(error)}") from None


def clear(folder: Path):
    """Remove everything FinScribe wrote into a folder it made, except the lock being held."""
    for entry in folder.iterdir():
        if entry.name != LOCK:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


@contextmanager
def claim(
    folder: str | Path, made_by: str, *, overwrite: bool = False, resume: bool | None = None, reuse: bool = False
) -> Iterator[Path]:
    """Hold `folder` for one writer; refuse to mix with or destroy what is already there.

    An empty or absent folder is taken and marked. A folder with content is continued with `resume` (the caller
    checks its own state; None: the command cannot resume), cleared with `overwrite` if FinScribe made it, taken as it is with `reuse` (a run or
    evaluation folder whose own files are rewritten by name), and refused otherwise.
    """
    folder = Path(folder)
    check_writable(folder)
    lock, stray = FileLock(folder / LOCK, timeout=0), not (folder / LOCK).exists()
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"another FinScribe command is writing to {folder} (it holds {folder / LOCK})") from None
    except OSError as error:
        raise InputError(f"cannot lock {folder}: {error.strerror or first_line(error)}") from None
    try:
        if not is_empty(folder) and not reuse:
            if not made_by_finscribe(folder):
                if stray:  # the folder is someone else's: leave no trace in it
                    (folder / LOCK).unlink(missing_ok=True)
                if overwrite or resume:
                    raise InputError(
                        f"{folder} was not made by FinScribe (no {MARKER} marker): it is left as it is; "
                        "choose a new or empty folder"
                    )
                raise InputError(f"output folder {folder} is not empty: choose a new or empty folder")
            if overwrite:
                clear(folder)
            elif not resume:
                continue_it = "" if resume is None else "--resume to continue it or "
                raise InputError(f"output folder {folder} is not empty: pass {continue_it}--overwrite to replace it")
        if not (folder / MARKER).exists() and (is_empty(folder) or made_by_finscribe(folder)):  # ours, or now ours
            (folder / MARKER).write_text(json.dumps({"made_by": made_by}) + "\n")
        yield folder
    finally:
        lock.release()


def main_process() -> bool:
    """Whether this is the one process of a distributed run that writes (and so locks) shared folders."""
    return int(os.environ.get("RANK", "0")) == 0
