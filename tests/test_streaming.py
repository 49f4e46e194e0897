"""`map_in_order`: results in job order on worker processes, and a worker that dies is an error, not a hang."""

import operator
import os
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from groundrl.streaming import map_in_order


def test_results_come_back_in_job_order_from_workers():
    jobs = [(i, i) for i in range(9)]
    assert list(map_in_order(operator.mul, jobs, workers=2)) == [i * i for i in range(9)]


def test_a_job_that_raises_reraises_in_the_caller():
    with pytest.raises(ZeroDivisionError):
        list(map_in_order(operator.truediv, [(1, 1), (1, 0), (2, 1)], workers=2))


def test_a_worker_that_dies_raises_instead_of_waiting_forever():
    # os._exit ends the worker process without an answer; multiprocessing.Pool waited on such a job for ever
    with pytest.raises(BrokenProcessPool, match="a worker process died without its answer"):
        list(map_in_order(os._exit, [(3,), (3,), (3,)], workers=2))


def test_closing_early_returns_without_waiting_for_running_jobs():
    # The generator may be closed by the garbage collector on any thread, the pool's own included: there it
    # must not wait. Two workers each sleep 30 s on a job while the consumer, after one result, stops.
    results = map_in_order(time.sleep, [(0,), (30,), (30,), (30,)], workers=2)
    assert next(results) is None
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 15


def test_a_scoring_error_closes_the_pool_where_it_is_raised(tmp_path):
    # score_jsonl stops at a bad line with worker jobs still queued: it closes them before the error leaves
    from groundrl.errors import InputError
    from groundrl.eval.scoring import score_jsonl

    bad = tmp_path / "p.jsonl"
    bad.write_text("{broken\n" + '{"id": 1, "output": "[0, 0, 1, 1]", "gt": [0, 0, 1, 1]}\n' * 50)
    closed = []
    real = map_in_order

    def spy(*args):
        try:
            yield from real(*args)
        finally:
            closed.append(True)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("groundrl.eval.scoring.map_in_order", spy)
        with pytest.raises(InputError, match=":1:"):
            score_jsonl(bad, None, workers=2, batch_lines=5)
        assert closed == [True]  # while the error (and its traceback's frames) are still alive
