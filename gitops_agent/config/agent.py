"""The agent config (SPEC section 2): load, validate every problem at once, typed object."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from gitops_agent.config.common import check_url, get, load_document, raise_if, stringify
from gitops_agent.config.schema import load_known_valid, schema_problems

DEFAULT_CONFIG_PATH = Path("/etc/gitops-agent/config.yml")
SYSTEM_STATE_DIR = Path("/var/lib/gitops-agent")  # root's default state_dir
SCHEMA_CACHE = "schema-cache.json"  # in the state dir: documents already found valid


@dataclass(frozen=True)
class RepoConfig:
    url: str
    branch: str = "main"
    ssh_key: str | None = None
    known_hosts: str | None = None
    allowed_signers: str | None = None


DEFAULT_STATUS_BRANCH = "gitops-status/{host}"
NOTIFY_EVENTS = ("failed", "rolled_back", "drifted", "recovered", "stale")


@dataclass(frozen=True)
class StatusConfig:
    enabled: bool
    url: str
    branch: str
    heartbeat: int = 900  # seconds: last_pass is refreshed at least this often
    keep_days: int | None = None  # trim the host's own branch history older than this
    per_host: bool = True  # the branch name holds the host: nobody else writes to it
    pattern: str = DEFAULT_STATUS_BRANCH  # as configured, "{host}" kept (to find all hosts')


@dataclass(frozen=True)
class NotifyTarget:
    url: str
    on: tuple[str, ...] = NOTIFY_EVENTS
    timeout: int = 5


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 2
    timeout: int = 1800
    keep_artifacts: int = 20
    vault_password_file: str | None = None
    backoff: int = 60  # seconds before a second retry on the same failing inputs
    backoff_max: int = 3600  # the longest wait between such retries


@dataclass(frozen=True)
class AgentConfig:
    path: Path
    host: str
    labels: dict[str, str]
    config_repo: RepoConfig
    status: StatusConfig
    interval: int
    splay: int
    state_dir: Path
    runner: RunnerConfig
    drift_interval: int = 3600
    self_heal: bool = False
    metrics_textfile: str | None = None
    notify: tuple[NotifyTarget, ...] = ()

    @property
    def stale_after(self) -> int:
        """Seconds without a pass after which another host calls this one stale (SPEC §6):
        two heartbeats and a pass."""
        return 2 * self.status.heartbeat + self.interval


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return SYSTEM_STATE_DIR
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gitops-agent"


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("GITOPS_AGENT_CONFIG") or DEFAULT_CONFIG_PATH)



def load_agent_config(path: Path) -> AgentConfig:
    document = load_document(path)
    data = document.data
    _yaml11_on(data)
    state_dir = data.get("state_dir") if isinstance(data, dict) else None
    load_known_valid((Path(state_dir).expanduser() if isinstance(state_dir, str)
                      else default_state_dir()) / SCHEMA_CACHE)
    problems = schema_problems(document, "agent")
    problems += check_url(document, ("config_repo", "url"), get(data, "config_repo", "url"))
    problems += check_url(document, ("status", "url"), get(data, "status", "url"))
    raise_if(problems)
    host = data.get("host", {})
    repo = data["config_repo"]
    status = data.get("status", {})
    runner = data.get("runner", {})
    name = host.get("name") or socket.gethostname().split(".")[0]
    base = path.parent
    return AgentConfig(
        path=path,
        host=name,
        labels=stringify(host.get("labels", {})),
        config_repo=RepoConfig(
            url=repo["url"],
            branch=repo.get("branch", "main"),
            ssh_key=_absolute(repo.get("ssh_key"), base),
            known_hosts=_absolute(repo.get("known_hosts"), base),
            allowed_signers=_absolute(repo.get("verify", {}).get("allowed_signers"), base),
        ),
        status=StatusConfig(
            enabled=status.get("enabled", True),
            url=status.get("url") or repo["url"],
            branch=status.get("branch", DEFAULT_STATUS_BRANCH).replace("{host}", name),
            heartbeat=status.get("heartbeat", 900),
            keep_days=status.get("keep_days"),
            per_host="{host}" in status.get("branch", DEFAULT_STATUS_BRANCH),
            pattern=status.get("branch", DEFAULT_STATUS_BRANCH),
        ),
        interval=data.get("interval", 60),
        splay=data.get("splay", 0),
        state_dir=Path(data["state_dir"]).expanduser() if "state_dir" in data
        else default_state_dir(),
        runner=RunnerConfig(
            workers=runner.get("workers", 2),
            timeout=runner.get("timeout", 1800),
            keep_artifacts=runner.get("keep_artifacts", 20),
            vault_password_file=_absolute(runner.get("vault_password_file"), base),
            backoff=runner.get("backoff", 60),
            backoff_max=runner.get("backoff_max", 3600),
        ),
        drift_interval=data.get("drift", {}).get("interval", 3600),
        self_heal=data.get("drift", {}).get("self_heal", False),
        metrics_textfile=_absolute(data.get("metrics", {}).get("textfile"), base),
        notify=tuple(NotifyTarget(url=item["url"], on=tuple(item.get("on", NOTIFY_EVENTS)),
                                  timeout=item.get("timeout", 5))
                     for item in data.get("notify") or ()),
    )


def _yaml11_on(data: object) -> None:
    """YAML 1.1 reads a bare `on:` key as the boolean true: notify items mean "on"."""
    items = data.get("notify") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and True in item and "on" not in item:
            item["on"] = item.pop(True)


def _absolute(value: str | None, base: Path) -> str | None:
    return None if value is None else str((base / Path(value).expanduser()).resolve())


