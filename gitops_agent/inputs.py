"""What in the config repo an app depends on, and one digest of all of it.

Followed statically: the app file, its playbook, `import_playbook`, task and vars
includes, `vars_files`, roles (`roles:`, `include_role`, `import_role`, role meta
dependencies, each role's whole directory), `src:` files, group_vars and this
host's host_vars, and the app's `paths:` globs. A reference built from a variable
other than `gitops_config_dir` makes the app depend on the directory of the file
that holds it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_agent.config import App

PLAYBOOK_KEYS = {"import_playbook", "include_playbook"}
TASK_KEYS = {"include_tasks", "import_tasks", "include"}
VARS_KEYS = {"include_vars"}
ROLE_KEYS = {"include_role", "import_role"}
CONFIG_DIR_VARS = ("{{ gitops_config_dir }}/", "{{gitops_config_dir}}/")


class _TolerantLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that reads `!vault`, `!unsafe` and other tags as plain values."""


_TolerantLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node)
    if isinstance(node, yaml.ScalarNode) else None)


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1] if key.startswith("ansible.") else key


@dataclass
class _Collector:
    root: Path
    files: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def add_file(self, relative: str) -> bool:
        relative = posixpath.normpath(relative)
        if relative.startswith("../") or not (self.root / relative).is_file():
            return False
        self.files.add(relative)
        return True

    def scan(self, relative: str, role_dir: str | None = None) -> None:
        relative = posixpath.normpath(relative)
        if relative in self.seen or not self.add_file(relative):
            return
        self.seen.add(relative)
        try:
            data = yaml.load((self.root / relative).read_text(encoding="utf-8"), _TolerantLoader)
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            return
        self._walk(data, posixpath.dirname(relative), role_dir)

    def role(self, name: str, base: str) -> None:
        for candidate in (posixpath.join(base, "roles", name), posixpath.join("roles", name)):
            directory = posixpath.normpath(candidate)
            if (self.root / directory).is_dir():
                if directory + "/" in self.prefixes:
                    return
                self.prefixes.add(directory + "/")
                for sub in ("tasks", "handlers", "meta"):
                    for path in sorted((self.root / directory / sub).glob("*.y*ml")):
                        self.scan(str(path.relative_to(self.root)), directory)
                return

    def reference(self, value: Any, base: str, role_dir: str | None, kind: str) -> None:
        if isinstance(value, dict):
            value = value.get("file") or value.get("name") or value.get("role")
        if not isinstance(value, str):
            return
        rooted = False
        for prefix in CONFIG_DIR_VARS:
            if value.startswith(prefix):
                value, base, role_dir, rooted = value[len(prefix):], "", None, True
        if "{{" in value or "{%" in value:
            self._templated(value, base, role_dir, kind, rooted)
            return
        if kind == "role":
            self.role(value, base)
            return
        search = [base]
        if role_dir:
            search.insert(0, posixpath.join(role_dir, {"tasks": "tasks", "vars": "vars",
                                                       "src": "files"}.get(kind, "")))
            if kind == "src":
                search.append(posixpath.join(role_dir, "templates"))
        elif kind == "src":
            search += [posixpath.join(base, "files"), posixpath.join(base, "templates"), ""]
        for directory in search:
            path = posixpath.join(directory, value)
            if kind in ("tasks", "playbook"):
                self.scan(path, role_dir)
            else:
                self.add_file(path)

    def _templated(self, value: str, base: str, role_dir: str | None, kind: str,
                   rooted: bool) -> None:
        """A reference built from variables: depend on all it could name."""
        if kind == "role":
            self.prefixes.add(posixpath.join(base, "roles") + "/")
            self.prefixes.add("roles/")
            return
        literal = posixpath.dirname(value[: value.index("{")]) if "{" in value else ""
        if rooted and literal:
            self.prefixes.add(posixpath.normpath(literal) + "/")
            return
        directory = role_dir or base
        self.prefixes.add(directory + "/" if directory else "")

    def _walk(self, node: Any, base: str, role_dir: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item, base, role_dir)
            return
        if not isinstance(node, dict):
            return
        for raw_key, value in node.items():
            key = _short(str(raw_key))
            if key in PLAYBOOK_KEYS:
                self.reference(value, base, None, "playbook")
            elif key in TASK_KEYS:
                self.reference(value, base, role_dir, "tasks")
            elif key in VARS_KEYS:
                self.reference(value, base, role_dir, "vars")
            elif key in ROLE_KEYS:
                self.reference(value, base, role_dir, "role")
            elif key in ("roles", "dependencies") and isinstance(value, list):
                for item in value:
                    self.reference(item, base, role_dir, "role")
            elif key == "vars_files" and isinstance(value, list):
                for item in value:
                    self.reference(item, base, role_dir, "vars")
            elif key == "src":
                self.reference(value, base, role_dir, "src")
            if isinstance(value, (dict, list)):
                self._walk(value, base, role_dir)


def app_patterns(root: Path, app: App, host: str) -> Patterns:
    """(files, directory prefixes, globs) of the config repo that `app` depends on."""
    collector = _Collector(root)
    collector.add_file(app.file)
    playbook_dir = ""
    if app.playbook:
        collector.scan(app.playbook)
        playbook_dir = posixpath.dirname(posixpath.normpath(app.playbook))
    for deploy_file in (app.deploy or {}).get("files", []):
        collector.add_file(deploy_file["src"])
    # Variables ansible loads for this host: the repo's group_vars and host_vars/<host>
    # (linked into the inventory as localhost), and those beside the playbook, where
    # the inventory name `localhost` is what counts.
    for base, name in (("", host), (playbook_dir, "localhost")):
        collector.prefixes.add(posixpath.join(base, "group_vars") + "/")
        collector.prefixes.add(posixpath.join(base, "host_vars", name) + "/")
        for suffix in (".yml", ".yaml", ".json", ""):
            collector.files.add(posixpath.join(base, "host_vars", name + suffix))
    return collector.files, collector.prefixes, app.paths


Patterns = tuple[set[str], set[str], tuple[str, ...]]


def uses(patterns: Patterns, path: str) -> bool:
    """Whether the config-repo file `path` is one of an app's inputs."""
    files, prefixes, globs = patterns
    return (path in files or any(path.startswith(prefix) for prefix in prefixes)
            or any(fnmatch.fnmatchcase(path, glob) for glob in globs))


def app_digest(entries: dict[str, str], patterns: Patterns, facts: dict[str, Any]) -> str:
    """sha256 over the matching tree entries (path and blob sha) and the host-side facts."""
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode())
    for path in sorted(entries):
        if uses(patterns, path):
            digest.update(f"{path}\0{entries[path]}\n".encode())
    return digest.hexdigest()
