"""scheduler.run_in_order: dependency order, the worker limit, blocking and stop()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import pytest

from gitops_agent.execute.scheduler import run_in_order

WAIT = 5.0  # seconds a test waits for another thread before it counts as hung


class Recorder:
    """Thread-safe log of job starts, job ends and blocked() calls."""

    def __init__(self, failing: Iterable[str] = ()) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.blocked: list[tuple[str, str]] = []
        self.failing = set(failing)

    def job(self, name: str) -> bool:
        with self.lock:
            self.events.append(("start", name))
        with self.lock:
            self.events.append(("end", name))
        return name not in self.failing

    def block(self, name: str, dependency: str) -> None:
        with self.lock:
            self.blocked.append((name, dependency))

    @property
    def started(self) -> list[str]:
        return [name for kind, name in self.events if kind == "start"]

    def index(self, kind: str, name: str) -> int:
        return self.events.index((kind, name))


def run(dependencies: dict[str, list[str]], recorder: Recorder, workers: int = 2,
        stop: Callable[[], bool] = lambda: False) -> None:
    run_in_order(dependencies, recorder.job, recorder.block, workers, stop)


def test_run_in_order_every_independent_job_runs_once():
    recorder = Recorder()

    run({"a": [], "b": [], "c": []}, recorder)

    assert sorted(recorder.started) == ["a", "b", "c"]
    assert recorder.blocked == []


def test_run_in_order_dependency_finishes_before_dependent_starts():
    recorder = Recorder()

    run({"app": ["db", "cache"], "db": [], "cache": ["db"], "other": []}, recorder, workers=4)

    assert sorted(recorder.started) == ["app", "cache", "db", "other"]
    assert recorder.index("end", "db") < recorder.index("start", "cache")
    assert recorder.index("end", "cache") < recorder.index("start", "app")
    assert recorder.index("end", "db") < recorder.index("start", "app")


def test_run_in_order_chain_runs_strictly_in_order():
    recorder = Recorder()

    run({"c": ["b"], "b": ["a"], "a": []}, recorder, workers=8)

    assert recorder.events == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"),
                               ("start", "c"), ("end", "c")]


def test_run_in_order_dependency_outside_the_mapping_counts_as_satisfied():
    recorder = Recorder()

    run({"web": ["not-selected"]}, recorder)

    assert recorder.started == ["web"]
    assert recorder.blocked == []


def test_run_in_order_independent_jobs_run_in_parallel_up_to_the_limit():
    barrier = threading.Barrier(2, timeout=WAIT)
    ran: list[str] = []

    def job(name: str) -> bool:
        barrier.wait()  # breaks (and the test fails) unless both jobs run at once
        ran.append(name)
        return True

    run_in_order({"a": [], "b": []}, job, lambda name, dependency: None, workers=2)

    assert sorted(ran) == ["a", "b"]
    assert not barrier.broken


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_run_in_order_never_runs_more_jobs_than_workers(workers):
    lock = threading.Lock()
    active = [0]
    peak = [0]

    def job(name: str) -> bool:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return True

    run_in_order({f"app{number}": [] for number in range(6)}, job,
                 lambda name, dependency: None, workers=workers)

    assert peak[0] == workers


def test_run_in_order_zero_workers_still_runs_one_at_a_time():
    recorder = Recorder()

    run({"a": [], "b": []}, recorder, workers=0)

    assert sorted(recorder.started) == ["a", "b"]


def test_run_in_order_failed_dependency_blocks_a_chain_of_three_transitively():
    recorder = Recorder(failing={"a"})

    run({"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "free": []}, recorder)

    assert sorted(recorder.started) == ["a", "free"]
    assert recorder.blocked == [("b", "a"), ("c", "b"), ("d", "c")]


def test_run_in_order_blocked_app_names_its_failed_dependency():
    recorder = Recorder(failing={"db"})

    run({"db": [], "cache": [], "web": ["cache", "db"]}, recorder)

    assert recorder.blocked == [("web", "db")]
    assert "web" not in recorder.started


def test_run_in_order_failed_job_does_not_block_independent_apps():
    recorder = Recorder(failing={"a"})

    run({"a": [], "b": [], "c": ["b"]}, recorder)

    assert sorted(recorder.started) == ["a", "b", "c"]
    assert recorder.blocked == []


def test_run_in_order_stop_before_start_runs_nothing():
    recorder = Recorder()

    run({"a": [], "b": ["a"]}, recorder, stop=lambda: True)

    assert recorder.started == []
    assert recorder.blocked == []


def test_run_in_order_stop_during_a_job_keeps_its_dependents_from_starting():
    stopping = threading.Event()
    recorder = Recorder()

    def job(name: str) -> bool:
        stopping.set()
        return recorder.job(name)

    run_in_order({"a": [], "b": ["a"], "c": ["b"]}, job, recorder.block, 2, stopping.is_set)

    assert recorder.started == ["a"]
    assert recorder.blocked == []


def test_run_in_order_stop_keeps_queued_independent_jobs_from_starting():
    stopping = threading.Event()
    all_considered = threading.Event()
    checks = [0]
    started: list[str] = []

    def stop() -> bool:
        checks[0] += 1
        if checks[0] >= 3:  # the scheduler has looked at a, b and c
            all_considered.set()
        return stopping.is_set()

    def job(name: str) -> bool:
        started.append(name)
        if name == "a":
            all_considered.wait(WAIT)
            stopping.set()
        return True

    run_in_order({"a": [], "b": [], "c": []}, job, lambda name, dependency: None, 1, stop)

    assert started == ["a"]
