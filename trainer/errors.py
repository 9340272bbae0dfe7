"""The exceptions FinScribe's functions raise for what the caller can fix; a command turns them into one line.

Everything else (a KeyError, a TypeError, a plain ValueError from deep inside a library) is a bug and keeps its
traceback.
"""


class InputError(ValueError):
    """Arguments, files, data or a model name that cannot be used; the message says what to change."""


class PushError(RuntimeError):
    """The Hub refused or could not be reached; what was staged locally stays."""


def first_line(error: BaseException) -> str:
    """`Type: first line of the message`: enough to act on, without the stack or a multi-line dump."""
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
