"""Where things live under the state dir (SPEC §7)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from gitops_agent.config.apps import APP_NAME


def _checked(app: str) -> str:
    """Only a valid app name becomes a path: `..` or `a/b` would leave the state dir."""
    if not APP_NAME.fullmatch(app):
        raise ValueError(f"{app!r} is not an app name")
    return app


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def suspensions_file(self) -> Path:
        return self.root / "suspended.json"

    @property
    def notify_file(self) -> Path:
        """Known app states and undelivered notifications (publish/notify.py)."""
        return self.root / "notify.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def config_checkout(self) -> Path:
        return self.root / "repos" / "config"

    @property
    def status_repo(self) -> Path:
        return self.root / "repos" / "status.git"

    @property
    def waves_repo(self) -> Path:
        """Bare cache of the earlier rollout waves' status branches, for a pass."""
        return self.root / "repos" / "waves.git"

    @property
    def fleet_repo(self) -> Path:
        """Bare cache of every host's status branch, for `gitops-agent fleet`."""
        return self.root / "repos" / "fleet.git"

    @property
    def fleet_notify_file(self) -> Path:
        """Hosts `fleet` last saw stale or reporting, and its undelivered messages."""
        return self.root / "fleet-notify.json"

    @property
    def fleet_lock(self) -> Path:
        return self.root / "repos" / "fleet.lock"

    @property
    def scratch(self) -> Path:
        """Temporary copies (rollbacks, removals, check mode); housekeeping clears what a
        killed run left."""
        return self.root / "tmp"

    def app_checkout(self, app: str) -> Path:
        return self.root / "repos" / "apps" / _checked(app)

    def deploy_pending(self, app: str) -> Path:
        """Marks a deploy: change whose commands have not succeeded yet (shipped playbook)."""
        return self.root / "deploy-pending" / _checked(app)

    def deploy_running(self, app: str) -> Path:
        """There while a deploy: run goes on (execute/deploy_marks.py)."""
        return self.root / "deploy-running" / _checked(app)

    def run_dir(self, app: str) -> Path:
        return self.root / "runs" / _checked(app)

    def artifacts(self, app: str) -> Path:
        return self.run_dir(app) / "artifacts"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def temporary(self) -> tempfile.TemporaryDirectory[str]:
        """A private temp dir under `scratch` (the state dir made first, 0700, as a pass
        makes it: a check run may come before any pass)."""
        self.prepare()
        self.scratch.mkdir(exist_ok=True, mode=0o700)
        return tempfile.TemporaryDirectory(dir=self.scratch)
