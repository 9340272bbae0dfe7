"""What every command shares: the failures a user can act on end in one line on stderr, not a traceback.

Only a command's `main` (or `__main__` block) uses `one_line_errors`; the functions it calls raise `InputError` or
`PushError` like any library, so the Space, a notebook or another stage can handle them. A full, read-only or
unwritable disk and Ctrl-C are the user's too, and end in one line. `FINSCRIBE_DEBUG=1` shows the traceback of a
one-line error too.
"""

import errno
import os
import sys
from contextlib import contextmanager

from trainer.errors import InputError, PushError

DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
# How libraries that do not raise OSError say the same: safetensors and pyarrow quote the OS; torch's zip writer
# only says that it could not write all it meant to ("file write failed", "unexpected pos 409920 vs 409812").
DISK_MESSAGES = {
    "No space left on device": "No space left on device",
    "Read-only file system": "Read-only file system",
    "Disk quota exceeded": "Disk quota exceeded",
    "file write failed": "a file could not be written in full (most likely no space left on device)",
    "unexpected pos": "a file could not be written in full (most likely no space left on device)",
}


def disk_problem(error: BaseException) -> str | None:
    """`No space left on device: runs/x/checkpoint-6/optimizer.pt` when a write failed for want of disk, else None.

    The cause chain is followed: libraries wrap the OSError in their own exceptions.
    """
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return f"{error.strerror}: {error.filename}" if error.filename else str(error.strerror)
        if said := next((text for text in DISK_MESSAGES if text in str(error)), None):
            return DISK_MESSAGES[said]
        error = error.__cause__ or error.__context__
    return None


def message_of(error: BaseException) -> str:
    """The message on one line; an error re-raised from a DataLoader worker keeps only its original last line."""
    text = str(error)
    if "Original Traceback" in text:  # torch's worker wrapper: "Caught X in DataLoader worker…" + the traceback
        text = text.strip().splitlines()[-1].partition(": ")[2] or text
    return " ".join(text.split())


@contextmanager
def one_line_errors(parsing: bool = False, interrupted: str | None = None):
    """InputError (bad arguments, data or paths) exits 2; PushError and a full or read-only disk exit 1; each as
    `error: ...` on stderr. With `interrupted` (what is kept and how to continue), Ctrl-C exits 130 with it.

    With `parsing`, any ValueError counts as the user's: around argument parsing, the checks of TRL's and
    transformers' own argument classes raise it for an unknown flag or a bad combination of flags; and so does a
    missing file (`--config recipes/nope.yaml`).
    """
    expected = (InputError, PushError, ValueError, FileNotFoundError) if parsing else (InputError, PushError)
    debug = os.environ.get("FINSCRIBE_DEBUG") == "1"
    try:
        yield
    except KeyboardInterrupt:
        if interrupted is None or debug:
            raise
        print(f"\ninterrupted: {interrupted}", file=sys.stderr)
        sys.exit(130)
    except expected as error:
        if debug:
            raise
        print(f"error: {message_of(error)}", file=sys.stderr)
        sys.exit(1 if isinstance(error, PushError) else 2)
    except Exception as error:
        if (problem := disk_problem(error)) is None or debug:
            raise
        print(f"error: cannot write: {problem}; free space or choose another folder, then run again", file=sys.stderr)
        sys.exit(1)
