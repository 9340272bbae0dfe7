"""What every command shares: the failures a user can act on end in one line on stderr, not a traceback.

Only a command's `main` (or `__main__` block) uses `one_line_errors`; the functions it calls raise `InputError` or
`PushError` like any library, so the Space, a notebook or another stage can handle them. `FINSCRIBE_DEBUG=1` shows
the traceback of a one-line error too.
"""

import os
import sys
from contextlib import contextmanager

from trainer.errors import InputError, PushError


@contextmanager
def one_line_errors(parsing: bool = False):
    """InputError (bad arguments, data or paths) exits 2; PushError exits 1; each as `error: ...` on stderr.

    With `parsing`, any ValueError counts as the user's: around argument parsing, the checks of TRL's and
    transformers' own argument classes raise it for a bad combination of flags.
    """
    expected = (InputError, PushError, ValueError) if parsing else (InputError, PushError)
    try:
        yield
    except expected as error:
        if os.environ.get("FINSCRIBE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(1 if isinstance(error, PushError) else 2)
