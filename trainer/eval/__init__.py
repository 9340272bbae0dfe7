"""The library of `python -m trainer.evaluate` and `trainer.compare`: per-document scores and their aggregation
(scores.py), field matching (fields.py, align.py, normalize.py), TEDS (teds.py), reading a split (run.py), reports."""
