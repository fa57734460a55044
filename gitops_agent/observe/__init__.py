"""Observe: everything a plan needs to know, read from remotes, the config repo and disk.

`observe()` asks the remotes for their heads, gets the config commit's files, loads the
app files, resolves each app's source ref and looks at its checkout and watched files.
It runs no Ansible and writes no state. For `run`, getting the commit's files means
bringing the agent's own config checkout there (edits found in it are reported); for
`plan`, it means a scratch export, and nothing the agent owns is touched. The commit's
tree is read lazily (ConfigView.tree), only when the plan has something to compare.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.config import AgentConfig, App, AppSet, dependency_problems, load_apps
from gitops_agent.config.fleet import Rules, load_rules
from gitops_agent.errors import ConfigError
from gitops_agent.execute import checkouts
from gitops_agent.layout import Layout
from gitops_agent.observe import config_repo, remotes, shipped, watch
from gitops_agent.observe.config_repo import ConfigView
from gitops_agent.observe.remotes import Remotes
from gitops_agent.observe.shipped import SHIPPED_FACT
from gitops_agent.record.state import AppRecord, State

log = logging.getLogger(__name__)


@dataclass
class AppView:
    """One app as observed: its source's desired commit and the host-side facts."""

    source_commit: str | None = None
    source_error: str | None = None  # the source cannot be resolved (unreachable, bad ref)
    checkout_current: bool = True  # its source checkout sits at that commit, unedited
    watch: dict[str, str] = field(default_factory=dict)  # watched path -> digest
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Observation:
    config: ConfigView
    appset: AppSet
    selected: dict[str, App]  # the apps this pass is about (all, or the --app ones)
    apps: dict[str, AppView]
    remotes: Remotes
    rules: Rules | None = None  # fleet.yml of the commit (rollout rules), if any
    rules_error: str | None = None  # why fleet.yml cannot be used: nothing is applied


def _source_urls(state: State) -> set[str]:
    """The sources the last pass used: listed at once, beside the config repo's head."""
    return {record.spec["source_url"] for record in state.apps.values()
            if record.spec.get("source_url")}


def facts(config: AgentConfig, record: AppRecord | None = None) -> dict[str, Any]:
    """Host-side facts an apply may depend on. An apply whose run read shipped roles or
    playbooks records what it read of them (execute/apply.py); here are those same paths
    as they are now (observe/shipped.py), so an agent upgrade re-applies only the apps
    whose shipped files changed."""
    found: dict[str, Any] = {"name": config.host,
                             "labels": dict(sorted(config.labels.items()))}
    values = shipped.recorded(record.inputs, record.failed_inputs) if record else []
    if values:
        found[SHIPPED_FACT] = shipped.current(values)
    return found


def _select(appset: AppSet, only: tuple[str, ...], host: str) -> dict[str, App]:
    unknown = [name for name in only if name not in appset.apps and name not in appset.invalid]
    if unknown:
        raise ConfigError(f"no app named {', '.join(unknown)} selects host {host} in the "
                          "config repo")
    return {name: app for name, app in appset.apps.items() if not only or name in only}


def observe(config: AgentConfig, layout: Layout, state: State, auth: git.Auth,
            only: tuple[str, ...] = (),
            scratch: Path | None = None, allow_rewind: bool = False) -> Observation:
    """Observe for a pass; with `scratch`, read only (for `plan`): nothing is moved."""
    checkout = layout.config_checkout
    with ThreadPoolExecutor(max_workers=1) as pool:  # the config head beside the sources
        head = pool.submit(config_repo.remote_head, checkout, config.config_repo, auth,
                           scratch)
        found = remotes.list_remotes(_source_urls(state), auth)
        sha = head.result()
    if scratch is None:
        view = config_repo.checkout(checkout, config.config_repo, sha, auth,
                                    state.config_commit, allow_rewind)
    else:
        view = config_repo.readonly(checkout, config.config_repo, sha, auth, scratch)
    if view.refused:
        return Observation(view, AppSet(), {}, {}, found)
    appset = load_apps(view.directory, config.host, config.labels)
    for name, problem in dependency_problems(appset.apps, appset.known).items():
        appset.invalid[name] = f"{appset.apps.pop(name).file}: {problem}"
    selected = _select(appset, only, config.host)
    wanted = {app.source.url for app in selected.values()
              if app.source and not git.FULL_SHA.match(app.source.ref)}
    found.update(remotes.list_remotes(wanted - set(found), auth))
    views: dict[str, AppView] = {}
    for name, app in selected.items():
        source_dir = layout.app_checkout(name)
        commit, error = remotes.source_commit(app, found, source_dir, auth,
                                              readonly=scratch is not None)
        current = commit is None or checkouts.is_current(source_dir, commit)
        views[name] = AppView(commit, error, current, watch.digests(app.watch),
                              facts(config, state.apps.get(name)))
    rules: Rules | None = None
    unusable: str | None = None
    try:
        rules = load_rules(view.directory)
    except ConfigError as error:
        unusable = str(error)
    return Observation(view, appset, selected, views, found, rules, unusable)
