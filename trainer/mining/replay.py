"""Replay: training draws a share of its documents from the mined log, the rest from the document dataset.

`datasets.interleave_datasets` does the drawing, with probabilities (1 − share, share) and the run's seed, until
both sets have been drawn whole (the smaller log is drawn again and again), so the mix is the same for a seed and a
resumed run sees what the first one would have. With `severity` weighting the log is first resampled in proportion
to each record's severity, so a reading that was no document at all comes back more often than one wrong digit.
Records whose label fails the validator are not replayed.
"""

import logging

import numpy as np
from datasets import Dataset, interleave_datasets

from trainer.errors import InputError

logger = logging.getLogger(__name__)
WEIGHTINGS = ("uniform", "severity")


def weighted(log: Dataset, size: int, seed: int) -> Dataset:
    """`size` records drawn from the log with replacement, in proportion to their `severity`."""
    weights = np.asarray(log["severity"], dtype=float).clip(min=0)
    if not (weights > 0).any():
        weights = np.ones(len(log))
    drawn = np.random.default_rng(seed).choice(len(log), size=size, p=weights / weights.sum())
    return log.select(np.sort(drawn))


def check_settings(share: float, weighting: str):
    """An InputError for a share outside (0, 1) or an unknown weighting."""
    if not 0 < share < 1:
        raise InputError(f"replay_share is a share in (0, 1), got {share}")
    if weighting not in WEIGHTINGS:
        raise InputError(f"replay_weighting is {' or '.join(WEIGHTINGS)}, got {weighting!r}")


def with_replay(documents: Dataset, log: Dataset, share: float, weighting: str, seed: int) -> Dataset:
    """The training documents with `share` of them drawn from the mined log."""
    check_settings(share, weighting)
    if "label_valid" in log.column_names:
        log = log.filter(lambda valid: valid, input_columns="label_valid")
    if len(log) == 0:
        raise InputError("the mined log has no record whose label passes the validator: nothing to replay")
    if weighting == "severity":
        if "severity" not in log.column_names:
            raise InputError("replay_weighting severity needs a mined log (trainer.mine) with its severity column")
        log = weighted(log, max(1, round(len(documents) * share / (1 - share))), seed)  # the draws one pass needs
    columns = [name for name in documents.column_names if name in log.column_names]
    if missing := sorted({"id", "image", "ground_truth"} - set(columns)):
        raise InputError(f"the mined log lacks the document columns {missing}")
    documents = documents.select_columns(columns)
    log = log.select_columns(columns).cast(documents.features)
    mixed = interleave_datasets(
        [documents, log], probabilities=[1 - share, share], seed=seed, stopping_strategy="all_exhausted"
    )
    logger.info("Replay: %d mined records mixed into %d documents at %.0f %%", len(log), len(documents), 100 * share)
    return mixed
