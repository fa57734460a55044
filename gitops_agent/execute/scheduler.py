"""Run a job per app in dependency order, independent apps in parallel."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)


def run_in_order(
    dependencies: Mapping[str, Sequence[str]],
    job: Callable[[str], bool],
    blocked: Callable[[str, str], None],
    workers: int,
    stop: Callable[[], bool] = lambda: False,
    already_failed: Iterable[str] = (),
) -> None:
    """Call `job(name)` once every dependency of `name` succeeded (job returned True).

    A name whose dependency failed or was blocked (or is in `already_failed`, such as
    an invalid app) gets `blocked(name, dependency)` instead. Other dependencies
    outside `dependencies` count as satisfied. At most `workers` jobs run at once, and
    once `stop()` is true no new job starts.
    """
    workers = max(1, workers)
    waiting = dict(dependencies)
    succeeded: set[str] = set()
    failed: set[str] = set(already_failed)
    running: dict[Future[bool], str] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while waiting or running:
            progressed = True
            while progressed:
                progressed = False
                for name in sorted(waiting):
                    needs = [dep for dep in waiting[name] if dep in dependencies or dep in failed]
                    bad = next((dep for dep in needs if dep in failed), None)
                    if bad is not None:
                        del waiting[name]
                        failed.add(name)
                        blocked(name, bad)
                        progressed = True
                    elif (all(dep in succeeded for dep in needs) and not stop()
                          and len(running) < workers):
                        del waiting[name]
                        running[pool.submit(job, name)] = name
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                error = future.exception()
                if error is not None:
                    log.error("%s: %s: %s", name, type(error).__name__, error)
                (succeeded if error is None and future.result() else failed).add(name)
