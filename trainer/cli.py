"""What every stage's command line shares: failures the user can act on end in one line on stderr, not a traceback."""

import sys
from contextlib import contextmanager


class PushError(RuntimeError):
    """The Hub refused or could not be reached; what was staged locally stays."""


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
