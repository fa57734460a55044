"""Run a job per app in dependency order, independent apps in parallel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait


def run_in_order(
    dependencies: Mapping[str, Sequence[str]],
    job: Callable[[str], bool],
    blocked: Callable[[str, str], None],
    workers: int,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Call `job(name)` once every dependency of `name` succeeded (job returned True).

    A name whose dependency failed or was blocked gets `blocked(name, dependency)`
    instead. Dependencies outside `dependencies` count as satisfied. Once `stop()`
    is true no new job starts.
    """
    waiting = dict(dependencies)
    succeeded: set[str] = set()
    failed: set[str] = set()
    running: dict[Future[bool], str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while waiting or running:
            progressed = True
            while progressed:
                progressed = False
                for name in sorted(waiting):
                    needs = [dep for dep in waiting[name] if dep in dependencies]
                    bad = next((dep for dep in needs if dep in failed), None)
                    if bad is not None:
                        del waiting[name]
                        failed.add(name)
                        blocked(name, bad)
                        progressed = True
                    elif all(dep in succeeded for dep in needs) and not stop():
                        del waiting[name]
                        running[pool.submit(job, name)] = name
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                (succeeded if future.result() else failed).add(name)
