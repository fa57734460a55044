"""The agent config and the app files: load, validate (every problem at once), typed objects."""

from __future__ import annotations

import fnmatch
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.errors import ConfigError
from gitops_agent.schema import dotted, load_known_valid, schema_problems
from gitops_agent.yamlfile import YamlDocument, YamlSyntaxError, load_yaml

DEFAULT_CONFIG_PATH = Path("/etc/gitops-agent/config.yml")
SCHEMA_CACHE = "schema-cache.json"  # in the state dir: documents already found valid
APP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class RepoConfig:
    url: str
    branch: str = "main"
    ssh_key: str | None = None
    known_hosts: str | None = None
    allowed_signers: str | None = None


@dataclass(frozen=True)
class StatusConfig:
    enabled: bool
    url: str
    branch: str


@dataclass(frozen=True)
class RunnerConfig:
    workers: int = 2
    timeout: int = 1800
    keep_artifacts: int = 20
    vault_password_file: str | None = None


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


@dataclass(frozen=True)
class Source:
    url: str
    ref: str = "main"


@dataclass(frozen=True)
class Health:
    command: tuple[str, ...]
    retries: int = 5
    delay: float = 2.0


@dataclass(frozen=True)
class App:
    name: str
    file: str  # path of the app file inside the config repo
    playbook: str | None
    deploy: dict[str, Any] | None
    hosts: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    source: Source | None = None
    remove_playbook: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    suspend: bool = False
    timeout: int | None = None
    health: Health | None = None
    rollback: bool = False
    self_heal: bool | None = None  # None: the agent config's drift.self_heal


@dataclass
class AppSet:
    """The apps of a config repo checkout that select this host, and the invalid ones."""

    apps: dict[str, App] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)  # name -> first problem line
    known: set[str] = field(default_factory=set)  # every app file's name, for any host


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/gitops-agent")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gitops-agent"


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get("GITOPS_AGENT_CONFIG") or DEFAULT_CONFIG_PATH)


def _load_document(path: Path) -> YamlDocument:
    try:
        document = load_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (YamlSyntaxError, UnicodeDecodeError, OSError) as error:
        raise ConfigError(str(error)) from None
    if document.data is None:
        document.data = {}
    return document


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems[0], problems)


def _get(data: Any, *keys: str) -> Any:
    """data[k1][k2]… or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _stringify(labels: dict[str, Any]) -> dict[str, str]:
    return {str(key): str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in labels.items()}


def _check_url(document: YamlDocument, location: tuple[str, ...], url: Any) -> list[str]:
    if not isinstance(url, str):
        return []
    try:
        git.validate_url(url)
    except ConfigError as error:
        return [f"{document.path}:{document.line_of(location)}: {'.'.join(location)}: {error}"]
    return []


def load_agent_config(path: Path) -> AgentConfig:
    document = _load_document(path)
    data = document.data
    state_dir = data.get("state_dir") if isinstance(data, dict) else None
    load_known_valid((Path(state_dir).expanduser() if isinstance(state_dir, str)
                      else default_state_dir()) / SCHEMA_CACHE)
    problems = schema_problems(document, "agent")
    problems += _check_url(document, ("config_repo", "url"), _get(data, "config_repo", "url"))
    problems += _check_url(document, ("status", "url"), _get(data, "status", "url"))
    _raise_if(problems)
    host = data.get("host", {})
    repo = data["config_repo"]
    status = data.get("status", {})
    runner = data.get("runner", {})
    name = host.get("name") or socket.gethostname().split(".")[0]
    base = path.parent
    return AgentConfig(
        path=path,
        host=name,
        labels=_stringify(host.get("labels", {})),
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
            branch=status.get("branch", "gitops-status").replace("{host}", name),
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
        ),
        drift_interval=data.get("drift", {}).get("interval", 3600),
        self_heal=data.get("drift", {}).get("self_heal", False),
    )


def _absolute(value: str | None, base: Path) -> str | None:
    return None if value is None else str((base / Path(value).expanduser()).resolve())


def repo_file_problem(root: Path, relative: str) -> str | None:
    """Why `relative` is not a regular file inside the checkout `root`, or None if it is."""
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        return f"{relative!r} must be a path inside the config repo"
    real_root = root.resolve()
    real = (root / candidate).resolve()
    if real_root not in real.parents:
        return f"{relative!r} leads outside the config repo"
    if not real.is_file():
        return f"{relative!r} does not exist in the config repo"
    return None


def _app_problems(document: YamlDocument, name: str, root: Path) -> list[str]:
    """Schema problems, then what the schema cannot say: paths, URLs, self-dependency."""
    problems = schema_problems(document, "app")
    data = document.data if isinstance(document.data, dict) else {}

    def at(location: tuple[str | int, ...], message: str) -> None:
        problems.append(f"{document.path}:{document.line_of(location)}: {dotted(location)}: "
                        f"{message}")

    if not APP_NAME.match(name):
        problems.append(f"{document.path}:1: app name {name!r} must match {APP_NAME.pattern}")
    for key in ("playbook", "remove_playbook"):
        if isinstance(data.get(key), str) and (reason := repo_file_problem(root, data[key])):
            at((key,), reason)
    problems += _check_url(document, ("source", "url"), _get(data, "source", "url"))
    dest = _get(data, "deploy", "dest")
    if isinstance(dest, str) and not dest.startswith("/"):
        at(("deploy", "dest"), f"{dest!r} must be an absolute path")
    files = _get(data, "deploy", "files")
    for index, entry in enumerate(files if isinstance(files, list) else []):
        src, target = _get(entry, "src"), _get(entry, "dest")
        if isinstance(src, str) and (reason := repo_file_problem(root, src)):
            at(("deploy", "files", index, "src"), reason)
        if isinstance(target, str) and not target.startswith("/"):
            at(("deploy", "files", index, "dest"), f"{target!r} must be an absolute path")
    depends_on = data.get("depends_on")
    if isinstance(depends_on, list) and name in depends_on:
        at(("depends_on", depends_on.index(name)), "an app cannot depend on itself")
    return sorted(set(problems), key=problems.index)


def _build_app(name: str, file: str, data: dict[str, Any]) -> App:
    source = data.get("source")
    health = data.get("health")
    return App(
        name=name,
        file=file,
        playbook=data.get("playbook"),
        deploy=data.get("deploy"),
        hosts=tuple(data.get("hosts", ())),
        labels=_stringify(data.get("labels", {})),
        source=Source(url=source["url"], ref=str(source.get("ref", "main"))) if source else None,
        remove_playbook=data.get("remove_playbook"),
        vars=data.get("vars", {}),
        paths=tuple(data.get("paths", ())),
        watch=tuple(data.get("watch", ())),
        depends_on=tuple(data.get("depends_on", ())),
        suspend=data.get("suspend", False),
        timeout=data.get("timeout"),
        health=Health(
            command=tuple(health["command"]),
            retries=health.get("retries", 5),
            delay=health.get("delay", 2.0),
        ) if health else None,
        rollback=data.get("rollback", False),
        self_heal=data.get("self_heal"),
    )


def selects(hosts: Any, labels: Any, host: str, host_labels: dict[str, str]) -> bool:
    """Whether an app's `hosts:` globs and `labels:` pick this host (lenient on bad input)."""
    if isinstance(hosts, list) and hosts and not any(
        isinstance(pattern, str) and fnmatch.fnmatchcase(host, pattern) for pattern in hosts
    ):
        return False
    if isinstance(labels, dict):
        return all(host_labels.get(str(key)) == value
                   for key, value in _stringify(labels).items())
    return True


def load_app(root: Path, path: Path) -> App:
    """Load and validate one app file of the checkout `root`; ConfigError lists every problem."""
    document = _load_document(path)
    _raise_if(_app_problems(document, path.stem, root))
    return _build_app(path.stem, str(path.relative_to(root)), document.data)


def load_apps(root: Path, host: str, host_labels: dict[str, str]) -> AppSet:
    """Every app file under `root/apps` that selects this host; invalid ones set aside."""
    found = AppSet()
    apps_dir = root / "apps"
    if not apps_dir.is_dir():
        return found
    paths = app_files(apps_dir)
    for path in paths:
        found.known.add(path.stem)
        if len([other for other in paths if other.stem == path.stem]) > 1:
            found.invalid[path.stem] = (f"{path}: app {path.stem!r} is defined twice "
                                        "(apps/*.yml and apps/*.yaml)")
            continue
        try:
            app = load_app(root, path)
        except ConfigError as error:
            if _raw_selects(path, host, host_labels):
                found.invalid[path.stem] = str(error)
            continue
        if selects(list(app.hosts), app.labels, host, host_labels):
            found.apps[app.name] = app
    return found


def app_files(apps_dir: Path) -> list[Path]:
    return sorted([*apps_dir.glob("*.yml"), *apps_dir.glob("*.yaml")])


def _raw_selects(path: Path, host: str, host_labels: dict[str, str]) -> bool:
    """For an invalid app file: does what can be read of it still pick this host?"""
    try:
        data = load_yaml(path).data
    except (YamlSyntaxError, OSError, UnicodeDecodeError):
        return True
    if not isinstance(data, dict):
        return True
    return selects(data.get("hosts"), data.get("labels"), host, host_labels)


def dependency_problems(apps: dict[str, App], known: set[str] | None = None) -> dict[str, str]:
    """Apps naming a dependency no app file defines, or sitting on a cycle, with the reason.

    `known` holds every app name of the repo: a dependency on an app that exists but
    does not select this host is no problem (there is nothing to wait for here).
    """
    names = set(apps) | (known or set())
    problems = {
        app.name: f"depends_on names unknown app(s): {', '.join(missing)}"
        for app in apps.values()
        if (missing := [name for name in app.depends_on if name not in names])
    }
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dependency in apps[name].depends_on:
            if dependency not in apps:
                continue
            if state.get(dependency) == 1:
                cycle = [*trail[trail.index(dependency):], dependency]
                for member in cycle[:-1]:
                    problems[member] = f"depends_on cycle: {' -> '.join(cycle)}"
            elif dependency not in state:
                visit(dependency, [*trail, dependency])
        state[name] = 2

    for name in sorted(apps):
        if name not in state:
            visit(name, [name])
    return problems
