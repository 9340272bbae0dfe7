"""Output folders: one writer at a time, and FinScribe replaces only the files a command made itself.

Every command that writes a dataset, model, run or evaluation folder holds `claim(folder, ...)` while it writes:
an exclusive lock (`.finscribe.lock`, through filelock) that a second writer meets and stops at with one line,
a check that the folder can be written before any work starts, and a marker (`.finscribe`) put in a folder
FinScribe creates or finds empty. The marker names the command that made the folder and lists the files it wrote
(its manifest, brought up to date when a command lets go of the folder, and after a kill by the next one to claim
it). `--overwrite` and `--resume` act only on a folder the same command made; `--overwrite` removes only the files
in its manifest and refuses, naming them, when the folder holds any other (the user's notes, an exported CSV); and
no command writes into a folder that is, or holds, one of its own inputs.
"""

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from trainer.errors import InputError, first_line

MARKER = ".finscribe"  # {"made_by": "trainer.synth", "files": [...], "writing_since": ...}
LOCK = ".finscribe.lock"  # stays after a run (removing it races a waiting writer); hidden, never pushed
HIDDEN = (MARKER, LOCK)
LEGACY_MARKERS = (".synth/args.json",)  # folders trainer.synth wrote before the marker existed


def read_marker(folder: Path) -> dict | None:
    """What made the folder and the files it wrote (None: not known, a folder from before the manifest)."""
    if (folder / MARKER).is_file():
        try:
            marker = json.loads((folder / MARKER).read_text())
        except (OSError, ValueError):
            marker = {}
        return {
            "made_by": marker.get("made_by"),
            "files": marker.get("files"),
            "writing_since": marker.get("writing_since"),
        }
    if any((folder / name).is_file() for name in LEGACY_MARKERS):
        return {"made_by": "trainer.synth", "files": None, "writing_since": None}
    return None


def write_marker(folder: Path, marker: dict):
    (folder / MARKER).write_text(json.dumps(marker) + "\n")


def files_in(folder: Path) -> set[str]:
    """Every file (or link) under the folder, as a path relative to it; FinScribe's own marker and lock left out."""
    found = set()
    for root, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            relative = os.path.relpath(os.path.join(root, name), folder)
            if relative not in HIDDEN:
                found.add(Path(relative).as_posix())
    return found


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


def check_not_an_input(folder: Path, inputs: Iterable[str | Path | None], holding: bool = True):
    """Refuse an output folder that is one of the command's inputs (links resolved), or with `holding` (a command
    that may clear its folder) one that holds an input: writing or clearing it would destroy what it reads."""
    target = folder.resolve()
    for given in inputs:
        if given is None or str(given) == "":
            continue
        source = Path(given).resolve()
        if source == target or (holding and target in source.parents):
            raise InputError(f"output folder {folder} is, or holds, the command's input {given}: choose another folder")


def clear(folder: Path, files: set[str]):
    """Remove the files a command wrote into its folder, then the folders they leave empty."""
    for name in files:
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    for root, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        if Path(root) != folder and not any(Path(root).iterdir()):
            Path(root).rmdir()


def own_files(folder: Path, marker: dict, present: set[str]) -> set[str] | None:
    """The files the marker's command wrote, of those `present`; a run killed before it let go of the folder wrote
    the files that are newer than its start (it could not list them)."""
    if marker["files"] is None:
        return None
    own = set(marker["files"])
    if since := marker.get("writing_since"):
        own |= {name for name in present if (folder / name).lstat().st_mtime >= since - 1}
    return own


def listed(names: Iterable[str], limit: int = 5) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


@contextmanager
def claim(
    folder: str | Path, made_by: str, *, overwrite: bool = False, resume: bool | None = None, reuse: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> Iterator[Path]:  # fmt: skip
    """Hold `folder` for one writer; refuse to mix with or destroy what is already there.

    An empty or absent folder is taken and marked. A folder with content is continued with `resume` (the caller
    checks its own state; None: the command cannot resume) and cleared of its own files with `overwrite`, both only
    if the same command made it; taken as it is with `reuse` (a run or evaluation folder whose own files are
    rewritten by name); refused otherwise. A folder that is one of `inputs` is always refused, and unless reused,
    one that holds one of them.
    """
    folder = Path(folder)
    check_not_an_input(folder, inputs, holding=not reuse)
    check_writable(folder)
    lock, stray = FileLock(folder / LOCK, timeout=0), not (folder / LOCK).exists()
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"another FinScribe command is writing to {folder} (it holds {folder / LOCK})") from None
    except OSError as error:
        raise InputError(f"cannot lock {folder}: {error.strerror or first_line(error)}") from None
    try:
        marker, present = read_marker(folder), files_in(folder)
        own = own_files(folder, marker, present) if marker else set()
        if not is_empty(folder) and not reuse:
            if marker is None:
                if stray:  # the folder is someone else's: leave no trace in it
                    (folder / LOCK).unlink(missing_ok=True)
                if overwrite or resume:
                    raise InputError(
                        f"{folder} was not made by FinScribe (no {MARKER} marker): it is left as it is; "
                        "choose a new or empty folder"
                    )
                raise InputError(f"output folder {folder} is not empty: choose a new or empty folder")
            if (overwrite or resume) and marker["made_by"] != made_by:
                raise InputError(f"{folder} holds what {marker['made_by']} made, not {made_by}: it is left as it "
                                 "is; choose another folder")  # fmt: skip
            if overwrite:
                if own is None:
                    raise InputError(f"{folder} was made before FinScribe listed the files it writes: it is left as "
                                     "it is; delete it yourself or choose a new folder")  # fmt: skip
                if foreign := present - own:
                    raise InputError(f"{folder} holds files FinScribe did not write ({listed(foreign)}): it is left "
                                     "as it is; move them out or choose another folder")  # fmt: skip
                clear(folder, own)
                own, present = set(), set()
            elif not resume:
                continue_it = "" if resume is None else "--resume to continue it or "
                raise InputError(f"output folder {folder} is not empty: pass {continue_it}--overwrite to replace it")
        if marker is None and not is_empty(folder):  # reuse of a folder FinScribe did not make: no marker put in it
            yield folder
            return
        made_by = marker["made_by"] if marker else made_by
        # A folder from before the list stays without one: which of its files are the user's is not known.
        write_marker(folder, {"made_by": made_by, "files": None if own is None else sorted(own),
                              "writing_since": time.time()})  # fmt: skip
        try:
            yield folder
        finally:  # the files this command wrote join the list; those it removed leave it
            after = files_in(folder)
            written = None if own is None else sorted((own | (after - present)) & after)
            write_marker(folder, {"made_by": made_by, "files": written})
    finally:
        lock.release()


def refuse_other_settings(folder: Path, previous: dict, settings: dict):
    """Work made with other settings is never continued: an InputError naming each setting that changed."""
    if previous != settings:
        changed = ", ".join(f"{k} {previous.get(k)!r} → {v!r}" for k, v in settings.items() if previous.get(k) != v)
        raise InputError(f"cannot resume {folder}: it was made with other settings ({changed})")


def keep_settings(folder: Path, name: str, settings: dict, resume: bool):
    """Record in folder/name the settings a command's output depends on; resuming, they must be those recorded."""
    path, settings = folder / name, json.loads(json.dumps(settings))  # tuples as lists, as stored
    if resume:
        if not path.is_file():
            raise InputError(f"{folder} holds no run of this command to resume (no {name})")
        refuse_other_settings(folder, json.loads(path.read_text()), settings)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def main_process() -> bool:
    """Whether this is the one process of a distributed run that writes (and so locks) shared folders."""
    return int(os.environ.get("RANK", "0")) == 0
