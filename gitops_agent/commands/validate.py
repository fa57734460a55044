"""`gitops-agent validate DIR`: check a config repo checkout, for the repo's own CI."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from gitops_agent.config import App, app_files, dependency_problems, load_app, selects
from gitops_agent.config.fleet import load_rules
from gitops_agent.errors import EXIT_BAD_CONFIG, EXIT_OK, ConfigError
from gitops_agent.execute import ansible_env, proc


def syntax_problem(root: Path, playbook: Path) -> str | None:
    """`ansible-playbook --syntax-check` of one playbook against a localhost inventory."""
    env = {**os.environ, **ansible_env.environment(root)}
    with tempfile.TemporaryDirectory() as scratch:
        inventory = Path(scratch) / "hosts.yml"
        inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
        done = proc.run(["ansible-playbook", "--syntax-check", "-i", str(inventory),
                         str(playbook)], env=env, timeout=120, cwd=scratch)
    return None if done.rc == 0 else f"syntax check failed: {done.last_line()}"


def selection(apps: dict[str, App], hosts: tuple[str, ...],
              labels: dict[str, str]) -> dict[str, list[str]]:
    """Which apps each example host (with `labels`) would get."""
    return {host: [name for name, app in sorted(apps.items())
                   if selects(list(app.hosts), app.labels, host, labels)] for host in hosts}


def show_selection(apps: dict[str, App], hosts: tuple[str, ...], labels: dict[str, str],
                   waves: dict[str, str | None] | None = None) -> None:
    shown = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    for host, chosen in selection(apps, hosts, labels).items():
        wave = (waves or {}).get(host, "")
        click.echo(f"{host}{f' ({shown})' if shown else ''}: "
                   f"{', '.join(chosen) if chosen else 'no apps'}"
                   + (f" · wave {wave}" if wave else " · in no wave (after all of them)"
                      if waves else ""))


def validate(directory: Path, hosts: tuple[str, ...] = (),
             labels: dict[str, str] | None = None, as_json: bool = False) -> int:
    root = directory.resolve()
    if not (root / "apps").is_dir():
        message = f"{directory}: no apps/ directory: not a config repo checkout"
        if as_json:  # an error, not a finding: one line on stderr, as every command's
            raise ConfigError(message)
        click.echo(message, err=True)
        return EXIT_BAD_CONFIG
    problems, apps, files, checked = _check(root)
    rules = None
    try:
        rules = load_rules(root)
    except ConfigError as error:
        problems += error.problems or [str(error)]
    waves = {host: rules.wave_name(host, labels or {}) for host in hosts} \
        if rules and rules.waves else {}
    if as_json:
        click.echo(json.dumps({"valid": not problems, "problems": problems,
                               "apps": sorted(apps), "playbooks_checked": len(checked),
                               "hosts": selection(apps, hosts, labels or {}),
                               "waves": waves}, indent=2))
        return EXIT_BAD_CONFIG if problems else EXIT_OK
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(files)} app file(s) and fleet.yml"
                   if (root / "fleet.yml").exists() else
                   f"{len(problems)} problem(s) in {len(files)} app file(s)", err=True)
        return EXIT_BAD_CONFIG
    click.echo(f"{directory}: {len(apps)} app(s) valid, {len(checked)} playbook(s) checked"
               + (f", fleet.yml valid ({len(rules.waves)} wave(s))" if rules else ""))
    show_selection(apps, hosts, labels or {}, waves)
    return EXIT_OK


def _check(root: Path) -> tuple[list[str], dict[str, App], list[Path], set[str]]:
    """(problems, valid apps, app files, playbooks checked) of a config repo checkout."""
    problems: list[str] = []
    apps: dict[str, App] = {}
    files = app_files(root / "apps")
    for path in files:
        try:
            app = load_app(root, path)
        except ConfigError as error:
            problems += error.problems or [str(error)]
            continue
        apps[app.name] = app
    known = {path.stem for path in files}
    for name in sorted(known):
        twins = [str(path) for path in files if path.stem == name]
        if len(twins) > 1:
            problems.append(f"app {name!r} is defined twice: {', '.join(twins)}")
    for name, problem in sorted(dependency_problems(apps, known).items()):
        problems.append(f"{root / apps[name].file}: {problem}")
    checked: set[str] = set()
    for app in apps.values():
        for playbook in filter(None, (app.playbook, app.remove_playbook)):
            if playbook not in checked:
                checked.add(playbook)
                reason = syntax_problem(root, root / playbook)
                if reason:
                    problems.append(f"{root / playbook}: {reason}")
    return problems, apps, files, checked
