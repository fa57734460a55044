"""fleet.yml (SPEC §4b): the rollout rules of the whole fleet — waves, a pause, windows.

Loaded from the config commit a host is about to apply (the newest rules are in force),
validated at once (schema, then what the schema cannot say: duplicate or shadowed waves,
windows, the pause's time) with every problem named by file and line.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gitops_agent.clock import parse_iso
from gitops_agent.config import windows as window_rules
from gitops_agent.config.apps import repo_file_problem
from gitops_agent.config.common import load_document, raise_if, stringify
from gitops_agent.config.schema import dotted, schema_problems
from gitops_agent.config.windows import Window, WindowError
from gitops_agent.config.yamlfile import YamlDocument, YamlSyntaxError, parse_yaml
from gitops_agent.errors import ConfigError

FILE = "fleet.yml"
GLOB = set("*?[")


@dataclass(frozen=True)
class Wave:
    name: str
    hosts: tuple[str, ...] = ()  # empty: every host
    labels: dict[str, str] = field(default_factory=dict)
    # hosts split into names and globs: a fleet.yml may name thousands of hosts
    names: frozenset[str] = field(init=False, repr=False, compare=False)
    globs: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(h for h in self.hosts if not GLOB & set(h)))
        object.__setattr__(self, "globs", tuple(h for h in self.hosts if GLOB & set(h)))

    def selects_name(self, host: str) -> bool:
        """Whether its `hosts:` take this name (its labels aside)."""
        return not self.hosts or host in self.names or any(
            fnmatch.fnmatchcase(host, glob) for glob in self.globs)

    def selects(self, host: str, labels: dict[str, str]) -> bool:
        return self.selects_name(host) and all(
            labels.get(key) == value for key, value in self.labels.items())


@dataclass(frozen=True)
class Pause:
    reason: str
    until: datetime | None = None  # None: until the pause is removed

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class Rules:
    waves: tuple[Wave, ...] = ()
    pause: Pause | None = None
    windows: tuple[Window, ...] = ()
    skip_stale_after: int | None = None  # None: a stale host of an earlier wave holds

    def wave_of(self, host: str, labels: dict[str, str]) -> int | None:
        """Index of the first wave that selects the host; None when no wave does (it then
        waits for every wave)."""
        for index, wave in enumerate(self.waves):
            if wave.selects(host, labels):
                return index
        return None

    @property
    def takes_all(self) -> bool:
        """Whether some wave selects every host (so no host is in no wave)."""
        return any(not wave.labels and (not wave.hosts or "*" in wave.globs)
                   for wave in self.waves)

    def wave_name(self, host: str, labels: dict[str, str]) -> str | None:
        index = self.wave_of(host, labels)
        return self.waves[index].name if index is not None else None


def _until(value: Any) -> datetime | None:
    """`until:` as YAML gives it (a quoted string, or a timestamp PyYAML already parsed),
    in UTC; None when it has no zone. Beyond what UTC can hold: the end of time."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else None
    elif isinstance(value, date):
        moment = None
    else:
        text = str(value)
        moment = parse_iso(text) if ("Z" in text or "+" in text or text.count("-") > 2) \
            else None
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if moment.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)


def _covers(earlier: Wave, later: Wave) -> bool:
    """Whether every host `later` could select is certainly taken by `earlier` first."""
    if any(later.labels.get(key) != value for key, value in earlier.labels.items()):
        return False
    if not earlier.hosts or "*" in earlier.globs:
        return True
    if not later.hosts:
        return False
    return all((pattern in later.names and earlier.selects_name(pattern))
               or pattern in earlier.globs for pattern in later.hosts)


def _problems(document: YamlDocument) -> list[str]:
    data = document.data
    if isinstance(data, dict) and isinstance(data.get("pause"), dict) and \
            isinstance(data["pause"].get("until"), (datetime, date)):
        data["pause"]["until"] = data["pause"]["until"].isoformat()  # checked below
    problems = schema_problems(document, "fleet")
    if problems or not isinstance(data, dict):
        return problems

    def at(location: tuple[str | int, ...], message: str) -> None:
        problems.append(f"{document.path}:{document.line_of(location)}: {dotted(location)}: "
                        f"{message}")

    waves = _waves(data)
    seen: dict[str, int] = {}
    for index, wave in enumerate(waves):
        if wave.name in seen:
            at(("waves", index, "name"), f"wave {wave.name!r} is named twice")
        seen.setdefault(wave.name, index)
        for other in waves[:index]:
            if _covers(other, wave):
                at(("waves", index), f"wave {wave.name!r} can never select a host: wave "
                                     f"{other.name!r} before it takes every host it would "
                                     "(a host is in the first wave that selects it)")
                break
        else:
            for position, pattern in enumerate(wave.hosts):
                taken = [other.name for other in waves[:index] if pattern in wave.names
                         and not other.labels and other.selects_name(pattern)]
                if taken:
                    at(("waves", index, "hosts", position),
                       f"host {pattern!r} is already in wave {taken[0]!r} (a host is in the "
                       "first wave that selects it): remove it here")
    for index, text in enumerate(data.get("windows") or ()):
        try:
            window_rules.parse(text)
        except WindowError as error:
            at(("windows", index), str(error))
    until = (data.get("pause") or {}).get("until")
    if until is not None and _until(until) is None:
        at(("pause", "until"), f"{until!r} is not a time with a zone (ISO 8601, e.g. "
                               "'2026-12-24T00:00:00Z')")
    return problems


def _waves(data: dict[str, Any]) -> list[Wave]:
    return [Wave(str(entry["name"]), tuple(entry.get("hosts") or ()),
                 stringify(entry.get("labels") or {})) for entry in data.get("waves") or ()]


def load_rules(root: Path) -> Rules | None:
    """The rules of the checkout `root`; None without fleet.yml. ConfigError lists every
    problem."""
    path = root / FILE
    if not path.exists() and not path.is_symlink():
        return None
    if problem := repo_file_problem(root, FILE):
        raise ConfigError(f"{path}: {problem}")
    return _rules(load_document(path))


def rules_from_text(text: str, name: str = FILE) -> Rules:
    """The rules in `text`, fleet.yml as read from git objects (`gitops-agent fleet`);
    `name` names it in the problems. ConfigError lists every problem."""
    try:
        document = parse_yaml(text, Path(name))
    except YamlSyntaxError as error:
        raise ConfigError(str(error)) from None
    if document.data is None:
        document.data = {}
    return _rules(document)


def _rules(document: YamlDocument) -> Rules:
    raise_if(_problems(document))
    data = document.data
    pause = data.get("pause")
    return Rules(
        waves=tuple(_waves(data)),
        pause=Pause(str(pause["reason"]), _until(pause.get("until"))) if pause else None,
        windows=tuple(window_rules.parse(text) for text in data.get("windows") or ()),
        skip_stale_after=data.get("skip_stale_after"),
    )


def describe_pause(pause: Pause) -> str:
    until = f" until {pause.until.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if pause.until else ""
    return f"paused by fleet.yml{until}: {pause.reason}"
