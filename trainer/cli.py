"""What every stage's command line shares: failures the user can act on end in one line on stderr, not a traceback."""

import sys
from contextlib import contextmanager


class PushError(RuntimeError):
    """The Hub refused or could not be reached; what was staged locally stays."""


def first_line(error: BaseException) -> str:
    """`Type: first line of the message`: enough to act on, without the stack or a multi-line dump."""
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@contextmanager
def one_line_errors():
    """A ValueError (bad arguments, data or paths) exits 2; a failed push exits 1; each as `error: ...` on stderr."""
    try:
        yield
    except ValueError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except PushError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(1)
