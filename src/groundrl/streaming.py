"""Streaming work over large line-oriented files: batches of lines, scored or validated in order, on
several processes, with a bounded number of batches in flight so that memory stays flat."""

from __future__ import annotations

import collections
import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO, TypeVar

T = TypeVar("T")
Batch = tuple[int, list]  # (number of the batch's first line, its lines: str, or bytes from binary files)


def line_batches(stream: IO[str] | IO[bytes], size: int) -> Iterator[Batch]:
    """Consecutive batches of `size` lines, each with the 1-based number of its first line."""
    first = 1
    while batch := list(itertools.islice(stream, size)):
        yield first, batch
        first += len(batch)


def map_in_order(fn: Callable[..., T], jobs: Iterable[tuple], workers: int) -> Iterator[T]:
    """`fn(*job)` for each job, results in job order.

    With one job or one worker everything runs in this process (no pool start-up for small inputs).
    Otherwise a spawn-context process pool runs them, with at most 2 x workers jobs queued at a time.
    `fn` must be a module-level function, its arguments and results picklable. A worker that dies (killed,
    out of memory, failed to start) raises `BrokenProcessPool` here rather than leaving its job unanswered:
    `multiprocessing.Pool` would wait for that job forever. Closed early (or on an error), the generator
    returns at once: jobs already running finish in their workers, their results dropped.
    """
    jobs = iter(jobs)
    head = list(itertools.islice(jobs, 2))
    if len(head) < 2 or workers <= 1:
        for job in itertools.chain(head, jobs):
            yield fn(*job)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending: collections.deque = collections.deque()
        for job in itertools.chain(head, jobs):
            pending.append(pool.submit(fn, *job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as e:  # the library's own words name the pool's internals, not what to do
        pool.shutdown(wait=False, cancel_futures=True)
        raise BrokenProcessPool(
            f"a worker process died without its answer (killed, or out of memory?); run with fewer workers, "
            f"or with one to do the work in this process ({e})"
        ) from e
    except BaseException:
        # An error, or a consumer that stopped early (GeneratorExit): queued jobs are dropped and running ones
        # are not waited for. This may run as the garbage collector finalises an abandoned generator, on
        # whatever thread it happens to run, the pool's own included; a pool that waited there could wait
        # forever (multiprocessing.Pool's terminate did: CI hung in a test whose error left this generator
        # in a reference cycle). Callers that can close it at once do (`contextlib.closing`).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
