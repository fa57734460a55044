"""The only module that imports ansible_runner: one run, in a process of its own.

`python -m gitops_agent.execute.runner_child JOB` reads the job (ansible_runner.run's
arguments, the deadline, the result path) that execute/runner.py wrote, runs the
playbook, folds its events and writes the outcome as JSON. A playbook that prints
gigabytes swells this short-lived process (ansible-runner decodes every event in
memory), never the agent. SIGTERM cancels the run; the deadline is on the monotonic
clock.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from gitops_agent.execute import artifact, events


def run(job: dict[str, Any]) -> dict[str, Any]:
    import ansible_runner

    cancel = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        cancel.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + job["timeout"]
    collected: list[dict[str, Any]] = []

    def keep(event: dict[str, Any]) -> bool:
        collected.append(artifact.clip_event(event))
        return True  # runner drops events whose handler returns False

    runner = ansible_runner.run(
        **job["runner"],
        event_handler=keep,
        cancel_callback=lambda: cancel.is_set() or time.monotonic() > deadline,
        rotate_artifacts=0,
        suppress_env_files=True,
    )
    status, rc = str(runner.status), int(runner.rc if runner.rc is not None else 1)
    if status == "canceled" and time.monotonic() > deadline:
        status = "timeout"
    run_dir = Path(job["runner"]["artifact_dir"]) / job["runner"]["ident"]
    artifact.cap(run_dir)
    stdout = artifact.tail(run_dir / "stdout", 4000)
    return asdict(events.fold(collected, status, rc, stdout, job["timeout"],
                              job.get("timeout_source"), job.get("hidden", ())))


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    outcome = run(job)
    Path(job["result"]).write_text(json.dumps(outcome), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
