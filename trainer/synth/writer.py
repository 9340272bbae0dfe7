"""The generator's writer: documents made one by one (`make(i)` is a function of i alone) become a dataset's Parquet
chunks, in worker processes, resumable chunk by chunk."""

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm.auto import tqdm

from trainer.data import document_dataset

STATE = ".synth"  # resume bookkeeping: the arguments and a marker per finished chunk; never uploaded


def write_documents(
    output_dir: Path, make: Callable[[int], dict], num_samples: int, chunk_size: int = 250, num_proc: int = 1
):
    """Write documents 0..num_samples-1, `make(i)` each, as the dataset's Parquet chunks: every chunk not yet marked
    done in output_dir/.synth, in parallel, with one progress bar over documents.

    Chunks are handed to the workers one at a time (the next while the last is written), so memory holds two
    chunks whatever the number of samples asked for.
    """
    (output_dir / STATE).mkdir(exist_ok=True)
    num_chunks = -(-num_samples // chunk_size)
    done = {int(p.name[6:11]) for p in (output_dir / STATE).glob("chunk-*.done")}
    indices = [range(k * chunk_size, min((k + 1) * chunk_size, num_samples)) for k in sorted(done)]
    todo = (k for k in range(num_chunks) if k not in done)
    with tqdm(total=num_samples, initial=sum(map(len, indices)), unit="doc", desc="Generating") as bar:
        # Workers ignore Ctrl-C: the main process stops them, and the finished chunks stay.
        context = multiprocessing.get_context("fork")
        pool = context.Pool(num_proc, signal.signal, (signal.SIGINT, signal.SIG_IGN)) if num_proc > 1 else None

        def start(k: int) -> tuple[int, Iterator[dict]]:
            chunk = range(k * chunk_size, min((k + 1) * chunk_size, num_samples))
            return k, (pool.imap(make, chunk, chunksize=4) if pool else map(make, chunk))

        def finish(k: int, samples: Iterator[dict]):
            rows = []
            for row in samples:
                rows.append(row)
                bar.update()
            document_dataset.write_chunk(output_dir, k, num_chunks, rows)
            (output_dir / STATE / f"chunk-{k:05d}.done").touch()  # the chunk's files are in place

        try:
            running = None
            for k in todo:
                started = start(k)
                if running:
                    finish(*running)
                running = started
            if running:
                finish(*running)
        finally:
            if pool:
                pool.terminate()
