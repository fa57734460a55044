"""The app files of a config repo (SPEC section 3): load, validate, select for this host."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_agent.config.common import check_url, get, load_document, raise_if, stringify
from gitops_agent.config.schema import dotted, schema_problems
from gitops_agent.config.yamlfile import YamlDocument, YamlSyntaxError, load_yaml
from gitops_agent.errors import ConfigError

APP_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


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

    if not APP_NAME.fullmatch(name):
        problems.append(f"{document.path}:1: app name {name!r} must match {APP_NAME.pattern}")
    for key in ("playbook", "remove_playbook"):
        if isinstance(data.get(key), str) and (reason := repo_file_problem(root, data[key])):
            at((key,), reason)
    problems += check_url(document, ("source", "url"), get(data, "source", "url"))
    dest = get(data, "deploy", "dest")
    if isinstance(dest, str) and not dest.startswith("/"):
        at(("deploy", "dest"), f"{dest!r} must be an absolute path")
    files = get(data, "deploy", "files")
    for index, entry in enumerate(files if isinstance(files, list) else []):
        src, target = get(entry, "src"), get(entry, "dest")
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
        labels=stringify(data.get("labels", {})),
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
                   for key, value in stringify(labels).items())
    return True


def load_app(root: Path, path: Path) -> App:
    """Load and validate one app file of the checkout `root`; ConfigError lists every problem."""
    document = load_document(path)
    raise_if(_app_problems(document, path.stem, root))
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
