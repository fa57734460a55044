"""Observe: everything a plan needs to know, read from remotes, the config repo and disk.

`observe()` asks the remotes for their heads, gets the config commit's files (moving the
agent's checkout for `run`, into scratch space for `plan`), loads the app files, resolves
each app's source ref and looks at its checkout and watched files. It runs no Ansible and
writes no state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_agent import __version__, git
from gitops_agent.config import AgentConfig, App, AppSet, dependency_problems, load_apps
from gitops_agent.errors import ConfigError, FatalError, GitError
from gitops_agent.execute import checkouts
from gitops_agent.layout import Layout
from gitops_agent.observe import config_repo, remotes, watch
from gitops_agent.observe.config_repo import ConfigView
from gitops_agent.observe.remotes import Remotes
from gitops_agent.observe.tree import Tree
from gitops_agent.plan.inputs import from_dict
from gitops_agent.record.state import State

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
    tree: Tree | None = None  # the commit's tree, read only when some inputs need it


def _urls(config: AgentConfig, state: State, pushing: bool) -> set[str]:
    urls = {config.config_repo.url}
    if pushing:
        urls.add(config.status.url)
    return urls | {record.spec["source_url"] for record in state.apps.values()
                   if record.spec.get("source_url")}


def config_commit(config: AgentConfig, found: Remotes) -> str:
    repo = config.config_repo
    refs = found[repo.url]
    if isinstance(refs, GitError):
        raise FatalError(f"cannot reach the config repo {repo.url}: {refs}")
    sha = refs.get(f"refs/heads/{repo.branch}")
    if sha is None:
        raise FatalError(f"the config repo {repo.url} has no branch {repo.branch!r}")
    return sha


def facts(config: AgentConfig, app: App) -> dict[str, Any]:
    """Host-side facts an apply depends on; the shipped content's version only where the
    app uses it (`deploy:`), so an agent upgrade re-applies only those apps."""
    found: dict[str, Any] = {"name": config.host, "labels": dict(sorted(config.labels.items()))}
    if app.deploy is not None:
        found["shipped content"] = __version__
    return found


def _select(appset: AppSet, only: tuple[str, ...], host: str) -> dict[str, App]:
    unknown = [name for name in only if name not in appset.apps and name not in appset.invalid]
    if unknown:
        raise ConfigError(f"no app named {', '.join(unknown)} selects host {host} in the "
                          "config repo")
    return {name: app for name, app in appset.apps.items() if not only or name in only}


def _needs_tree(selected: dict[str, App], state: State, sha: str) -> bool:
    """Whether any app's recorded inputs were read at another commit."""
    for name in selected:
        record = state.apps.get(name)
        if record is None:
            continue
        for data in (record.inputs, record.failed_inputs):
            inputs = from_dict(data)
            if inputs is not None and inputs.commit != sha:
                return True
    return False


def observe(config: AgentConfig, layout: Layout, state: State, auth: git.Auth,
            only: tuple[str, ...] = (), pushing: bool = False,
            scratch: Path | None = None) -> Observation:
    """Observe for a pass; with `scratch`, read only (for `plan`): nothing is moved."""
    found = remotes.list_remotes(_urls(config, state, pushing), auth)
    sha = config_commit(config, found)
    checkout = layout.config_checkout
    if scratch is None:
        view = config_repo.checkout(checkout, config.config_repo, sha, auth)
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
                              facts(config, app))
    tree = view.tree() if _needs_tree(selected, state, sha) else None
    return Observation(view, appset, selected, views, found, tree)
