"""Replay a corpus family (tests/corpus/<family>.yml) through the real agent.

A family is a small config repo plus a list of commits on top of it. Each commit says
which apps must re-apply after it (`expect`) and, optionally, which files under the
playbooks' output dir must then contain what (`check`). A step may name the `cause` of
a re-apply it does not expect but accepts as conservative (a directory Ansible lists
gained a file): those still count as false triggers in the figures, with their cause.
`replay` builds the repo in a bare-repo `Remote`, runs `gitops-agent run` once for the
first apply and once per step, and tells apart, for every step, the apps that
re-applied (their `run_id` in state.json changed) from the ones that had to.

`out_dir` (where the playbooks write) is added to `group_vars/all.yml`: the file is
created with just that variable, or, when the family or a step writes the file, the
variable is appended to its text. Playbooks write there with `out_write` (a test action,
tests/ansible/action/out_write.py: no module run) or with modules that read a file.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import Remote, cli, state, write_config

CORPUS = Path(__file__).resolve().parent / "corpus"
HOST = "web-01"
ACTIONS = {"ANSIBLE_ACTION_PLUGINS": str(Path(__file__).resolve().parent / "ansible" / "action")}
GROUP_VARS = "group_vars/all.yml"
FAMILY_KEYS = {"description", "files", "steps"}
STEP_KEYS = {"name", "write", "remove", "expect", "check", "cause"}
TAIL = 2000
FAILED = {"failed", "blocked", "rolled_back"}


class CorpusError(ValueError):
    """A family file that does not follow the corpus format."""


@dataclass(frozen=True)
class Step:
    name: str
    expect: frozenset[str]
    write: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    check: dict[str, str] = field(default_factory=dict)
    cause: str | None = None  # why an unexpected re-apply is accepted


@dataclass(frozen=True)
class Family:
    name: str
    path: Path
    description: str
    files: dict[str, str]
    steps: tuple[Step, ...]

    @property
    def apps(self) -> frozenset[str]:
        """The apps of the initial repo."""
        return _apps(self.files)


@dataclass
class StepResult:
    name: str
    expected: frozenset[str]
    applied: frozenset[str]
    rc: int
    stdout: str
    stderr: str
    check_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed: frozenset[str] = frozenset()  # apps left failed, blocked or rolled back
    cause: str | None = None  # the step's accepted cause of false triggers

    @property
    def misses(self) -> frozenset[str]:
        return self.expected - self.applied

    @property
    def false_triggers(self) -> frozenset[str]:
        return self.applied - self.expected

    @property
    def ok(self) -> bool:
        return (self.rc == 0 and not self.failed and not self.misses
                and (not self.false_triggers or self.cause is not None)
                and not self.check_failures)

    def explain(self) -> str:
        """A paragraph for an assertion message: the step, the sets and the agent's stderr."""
        return (f"step {self.name!r}: rc={self.rc} expected={sorted(self.expected)} "
                f"applied={sorted(self.applied)} failed={sorted(self.failed)} "
                f"misses={sorted(self.misses)} "
                f"false_triggers={sorted(self.false_triggers)} "
                f"check_failures={self.check_failures}\n"
                f"--- agent stderr (tail) ---\n{self.stderr[-TAIL:]}")


@dataclass
class Replay:
    family: Family
    first: StepResult  # the first apply: every app expected
    steps: list[StepResult]  # empty when the first apply failed
    seconds: float

    @property
    def first_ok(self) -> bool:
        return self.first.rc == 0 and not self.first.failed and not self.first.misses

    @property
    def needed(self) -> int:
        """Re-applies the steps call for (the first apply not counted)."""
        return sum(len(step.expect) for step in self.family.steps)

    @property
    def misses(self) -> list[tuple[str, str]]:
        """(step, app) pairs that had to re-apply and did not; when the first apply
        failed, every re-apply of the family counts as missed."""
        if not self.first_ok:
            return [(step.name, app) for step in self.family.steps for app in sorted(step.expect)]
        return [(step.name, app) for step in self.steps for app in sorted(step.misses)]

    @property
    def false_triggers(self) -> list[tuple[str, str]]:
        return [(step.name, app) for step in self.steps for app in sorted(step.false_triggers)]

    @property
    def problems(self) -> list[str]:
        """Everything that is wrong, one explained step per item (empty: all good)."""
        if not self.first_ok:
            return [f"first apply failed\n{self.first.explain()}"]
        return [step.explain() for step in self.steps if not step.ok]


# --------------------------------------------------------------------------- loading


def families(directory: Path = CORPUS) -> list[Path]:
    return sorted(directory.glob("*.yml"))


def _apps(files: dict[str, str]) -> frozenset[str]:
    return frozenset(posixpath.splitext(posixpath.basename(path))[0] for path in files
                     if posixpath.dirname(path) == "apps" and path.endswith((".yml", ".yaml")))


def _repo_path(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise CorpusError(f"{where}: a path must be a non-empty string, not {value!r}")
    normal = posixpath.normpath(value)
    if value.startswith("/") or normal != value or normal.split("/")[0] in ("..", ".git"):
        raise CorpusError(f"{where}: {value!r} is not a plain relative path in the repo")
    return value


def _texts(where: str, value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise CorpusError(f"{where}: must be a mapping of {what} -> text, not "
                          f"{type(value).__name__}")
    texts: dict[str, str] = {}
    for path, text in value.items():
        if not isinstance(text, str):
            raise CorpusError(f"{where}: the value of {path!r} must be text, not "
                              f"{type(text).__name__}")
        texts[_repo_path(where, path)] = text
    return texts


def _names(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CorpusError(f"{where}: must be a list of strings, not {value!r}")
    return value


def _step(where: str, raw: Any, apps: set[str]) -> Step:
    if not isinstance(raw, dict):
        raise CorpusError(f"{where}: a step must be a mapping, not {type(raw).__name__}")
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where} ({name})"
    unknown = sorted(set(map(str, raw)) - STEP_KEYS)
    if unknown:
        raise CorpusError(f"{where}: unknown key(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(sorted(STEP_KEYS))})")
    if not isinstance(name, str) or not name.strip():
        raise CorpusError(f"{where}: 'name' is required and must be a non-empty string")
    if "expect" not in raw:
        raise CorpusError(f"{where}: 'expect' is required (a list of apps, [] for none)")
    write = _texts(f"{where}: write", raw.get("write") or {}, "path")
    remove = tuple(_repo_path(f"{where}: remove", path)
                   for path in _names(f"{where}: remove", raw.get("remove") or []))
    check = _texts(f"{where}: check", raw.get("check") or {}, "out-dir path")
    if not write and not remove:
        raise CorpusError(f"{where}: a step must write or remove at least one file")
    apps.difference_update(_apps(dict.fromkeys(remove, "")))
    apps.update(_apps(write))
    expect = _names(f"{where}: expect", raw["expect"])
    strangers = sorted(set(expect) - apps)
    if strangers:
        raise CorpusError(f"{where}: expect names {', '.join(strangers)}, which is not an app "
                          f"(apps: {', '.join(sorted(apps))})")
    cause = raw.get("cause")
    if cause is not None and (not isinstance(cause, str) or not cause.strip()):
        raise CorpusError(f"{where}: cause must be a sentence saying why")
    return Step(name, frozenset(expect), write, remove, check, cause)


def load(path: Path) -> Family:
    """Read and validate one family file; CorpusError says what is wrong and where."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CorpusError(f"{path}: cannot read: {error}") from error
    if not isinstance(raw, dict):
        raise CorpusError(f"{path}: the top level must be a mapping with "
                          f"{', '.join(sorted(FAMILY_KEYS))}")
    unknown = sorted(set(map(str, raw)) - FAMILY_KEYS)
    missing = sorted(FAMILY_KEYS - set(raw))
    if unknown or missing:
        raise CorpusError(f"{path}: " + "; ".join(
            ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
            + ([f"missing key(s) {', '.join(missing)}"] if missing else [])))
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        raise CorpusError(f"{path}: 'description' must be a one-line string")
    files = _texts(f"{path}: files", raw["files"], "path")
    apps = set(_apps(files))
    if not apps:
        raise CorpusError(f"{path}: files has no app (apps/<name>.yml)")
    if not isinstance(raw["steps"], list) or not raw["steps"]:
        raise CorpusError(f"{path}: 'steps' must be a non-empty list")
    steps = tuple(_step(f"{path}: steps[{index}]", item, apps)
                  for index, item in enumerate(raw["steps"]))
    return Family(path.stem, path, raw["description"].strip(), files, steps)


# --------------------------------------------------------------------------- replaying


def _write(remote: Remote, files: dict[str, str], out: Path) -> None:
    for path, text in files.items():
        if path == GROUP_VARS:
            text = (text if text.endswith("\n") or not text else text + "\n") + \
                f"out_dir: {out}\n"
        remote.write(path, text)


def _records(state_dir: Path) -> dict[str, dict[str, Any]]:
    if not (state_dir / "state.json").exists():
        return {}
    return dict(state(state_dir)["apps"])


def _checks(out: Path, check: dict[str, str]) -> list[str]:
    failures = []
    for relative, wanted in check.items():
        target = out / relative
        if not target.is_file():
            failures.append(f"{relative}: missing")
            continue
        text = target.read_text(errors="replace")
        if wanted not in text:
            failures.append(f"{relative}: {wanted!r} not in {text[:200]!r}")
    return failures


def _pass(config: Path, state_dir: Path, out: Path, name: str, expected: frozenset[str],
          check: dict[str, str], force: bool, cause: str | None = None) -> StepResult:
    before = {app: record.get("run_id") for app, record in _records(state_dir).items()}
    clock = time.monotonic()
    done = cli("run", *(["--force"] if force else []), config=config, env=ACTIONS)
    seconds = time.monotonic() - clock
    after = _records(state_dir)
    applied = frozenset(app for app, record in after.items()
                        if record.get("run_id") is not None
                        and record.get("run_id") != before.get(app))
    failed = frozenset(app for app, record in after.items() if record.get("state") in FAILED)
    return StepResult(name, expected, applied, done.returncode, done.stdout, done.stderr,
                      _checks(out, check), round(seconds, 2), failed, cause)


def replay(family: Family, root: Path, force: bool = False) -> Replay:
    """Build the family's repo under `root` and replay its steps through the agent.

    `force` runs every pass with --force (every app applies each time): a way to check
    that the family's playbooks work and its `check`s hold, whatever the change detection.
    """
    clock = time.monotonic()
    out = root / "out"
    out.mkdir(parents=True)
    state_dir = root / "state"
    remote = Remote(root, "config")
    files = dict(family.files)
    files.setdefault(GROUP_VARS, "")
    _write(remote, files, out)
    remote.commit(f"{family.name}: initial config")
    config = write_config(root / "agent.yml", remote.url, state_dir, host=HOST,
                          status={"enabled": False})
    first = _pass(config, state_dir, out, "first apply", family.apps, {}, force)
    result = Replay(family, first, [], 0.0)
    if result.first_ok:
        for step in family.steps:
            for path in step.remove:
                remote.remove(path)
            _write(remote, step.write, out)
            remote.commit(step.name)
            result.steps.append(_pass(config, state_dir, out, step.name, step.expect,
                                      step.check, force, step.cause))
    result.seconds = round(time.monotonic() - clock, 2)
    return result
