"""`map_in_order`: results in job order on worker processes, and a worker that dies is an error, not a hang."""

import operator
import os
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
    with pytest.raises(BrokenProcessPool):
        list(map_in_order(os._exit, [(3,), (3,), (3,)], workers=2))
