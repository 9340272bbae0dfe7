"""Hard-sample mining: classify every error of a reading (classify.py), keep them in an append-only log that is itself
a document dataset (log.py), and draw the log back into training."""

from .classify import KINDS, MinedError, classify_errors, severity

__all__ = ["KINDS", "MinedError", "classify_errors", "severity"]
