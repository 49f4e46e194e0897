"""Many trees in flight: every round, the pending calls of all of them go to the engine as one
`generate` batch (the transformers and vLLM engines batch it; the OpenAI engine keeps that many requests
in flight over its servers), and each tree is sent its texts.

A tree that raises is reported and dropped; the others go on. An engine that raises ends the run (the
trees already written stay; a rerun resumes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from groundrl.engines import Engine, Prompt
from groundrl.search.config import MCTSConfig
from groundrl.search.mcts import Call, Problem, Search, search_tree
from groundrl.search.prompts import step_messages
from groundrl.search.tree import Node

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """A record that could not be searched: its id, a stable reason key and a one-line message."""

    id: str
    reason: str
    message: str


@dataclass
class Finished:
    """A searched tree with its cost: seconds from its first call to its last, and its model calls."""

    problem: Problem
    root: Node
    seconds: float
    calls: int


@dataclass
class Stats:
    """What a run of the scheduler did: rounds (engine batches), calls, trees finished and failed."""

    rounds: int = 0
    calls: int = 0
    trees: int = 0
    failed: int = 0
    batch_sizes: list[int] = field(default_factory=list)


@dataclass
class _Flight:
    problem: Problem
    search: Search
    calls: list[Call]
    started: float
    made: int = 0


def _prompt(problem: Problem, call: Call) -> Prompt:
    messages = step_messages(problem.system, problem.question, list(call.thoughts), call.answer_now)
    return Prompt(messages, [problem.image], seed=call.seed)


def run_trees(
    problems: Iterable[Problem | Failure],
    engine: Engine,
    cfg: MCTSConfig,
    trees_in_flight: int,
    on_done: Callable[[Finished], None],
    on_error: Callable[[Failure], None],
) -> Stats:
    """Search every problem, `trees_in_flight` at a time, one engine batch per round.

    Args:
        problems: what to search, in order; a Failure is passed straight to `on_error`.
        engine: any engine; each prompt carries its call's seed.
        cfg: the algorithm's knobs.
        trees_in_flight: trees searched together (a finished tree's place goes to the next problem).
        on_done: called with each finished tree, as soon as it finishes.
        on_error: called with each record that failed, and why.
    """
    stats, sampling = Stats(), cfg.sampling()
    pending: Iterator[Problem | Failure] = iter(problems)
    flights: list[_Flight] = []
    while True:
        while len(flights) < trees_in_flight and (problem := next(pending, None)) is not None:
            if isinstance(problem, Failure):
                stats.failed += 1
                on_error(problem)
                continue
            flight = _Flight(problem, search_tree(problem, cfg), [], time.perf_counter())
            if _advance(flight, None, stats, on_done, on_error):
                flights.append(flight)
        if not flights:
            return stats
        prompts = [_prompt(f.problem, call) for f in flights for call in f.calls]
        generations = engine.generate(prompts, sampling)
        stats.rounds += 1
        stats.calls += len(prompts)
        stats.batch_sizes.append(len(prompts))
        start, still = 0, []
        for flight in flights:
            texts = [g[0].text for g in generations[start : start + len(flight.calls)]]
            start += len(flight.calls)
            flight.made += len(flight.calls)
            if _advance(flight, texts, stats, on_done, on_error):
                still.append(flight)
        flights = still


def _advance(
    flight: _Flight,
    texts: list[str] | None,
    stats: Stats,
    on_done: Callable[[Finished], None],
    on_error: Callable[[Failure], None],
) -> bool:
    """Send a tree its texts (None: start it); True while it still needs calls."""
    try:
        flight.calls = flight.search.send(texts)
        while not flight.calls:  # a step that needed no call
            flight.calls = flight.search.send([])
        return True
    except StopIteration as stop:
        stats.trees += 1
        on_done(Finished(flight.problem, stop.value, time.perf_counter() - flight.started, flight.made))
    except Exception as e:  # one tree's failure is that tree's, not the run's
        log.warning("tree %s failed: %s", flight.problem.id, e)
        stats.failed += 1
        on_error(Failure(flight.problem.id, type(e).__name__, str(e)))
    return False
