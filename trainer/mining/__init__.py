"""The library of `python -m trainer.mine`: classify every error of a reading (classify.py), keep them in an
append-only log that is itself a document dataset (log.py), and draw the log back into training (replay.py)."""
