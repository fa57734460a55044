"""A `deploy:` run cut short owes its commands. While the shipped deploy playbook runs,
`<state_dir>/deploy-running/<app>` is there; it goes once the run has gone to its end
(its own pending mark then says what is owed). One still there at the next run (the agent
was killed, the run cancelled or timed out half-way) becomes the pending mark the
playbook reads, so the commands run. The playbook marks a source change before syncing,
but a config file is put in place before its mark is written: a kill in between lost the
commands."""

from __future__ import annotations

import os
from pathlib import Path

from gitops_agent.execute.events import Outcome
from gitops_agent.layout import Layout
from gitops_agent.record.state import write_atomically


def begin(layout: Layout, app: str, note: str) -> Path:
    """Before a deploy run: a mark left by a run cut short is owed; this run's is set."""
    running, pending = layout.deploy_running(app), layout.deploy_pending(app)
    for directory in (running.parent, pending.parent):
        directory.mkdir(mode=0o700, exist_ok=True)
    if running.exists():
        os.replace(running, pending)
    write_atomically(running, note)
    return running


def end(running: Path, outcome: Outcome) -> None:
    """After it: the run went to its end (Ansible's stats came) and owes only what its
    own mark says."""
    if outcome.status in ("successful", "failed") and outcome.stats:
        running.unlink(missing_ok=True)
