"""`gitops-agent fleet`: every host's report from the status branches, in one view."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from gitops_agent import git, lock
from gitops_agent.config import AgentConfig
from gitops_agent.errors import FatalError
from gitops_agent.execute import housekeeping
from gitops_agent.layout import Layout
from gitops_agent.observe import fleet_rules, host_reports, signature
from gitops_agent.publish import fleet as overview
from gitops_agent.publish import fleet_branch, fleet_render


def config_head(repo: Path, config: AgentConfig, auth: git.Auth) -> overview.Head | None:
    """The config branch's head and its fleet.yml, for the waves' progress; None, and one
    warning line, when either cannot be read: the hosts' reports still count as ever."""
    try:
        commit, rules = fleet_rules.read(repo, config.config_repo, auth)
        signers = config.config_repo.allowed_signers
        refused = signature.valid_now(repo, commit, signers) if signers else None
    except FatalError as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        click.echo(f"warning: no rollout progress: {first}", err=True)
        return None
    if refused:  # the hosts will not apply it: its rules are not the ones in force
        click.echo(f"warning: no rollout progress: the config head {commit[:12]} is refused "
                   f"by config_repo.verify ({refused})", err=True)
        return None
    return overview.Head(commit, rules)


def fleet(config: AgentConfig, as_json: bool, publish: bool, stale_after: int | None,
          now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    layout = Layout(config.state_dir)
    layout.prepare()
    auth = git.Auth(config.config_repo.ssh_key, config.config_repo.known_hosts)
    auth.check()
    branches = host_reports.Branches.of(config.status)
    with lock.hold(layout.fleet_lock):
        host_reports.fetch(layout.fleet_repo, config.status.url, auth, branches)
        head = config_head(layout.fleet_repo, config, auth)
        views: list[overview.HostView] = []
        unreadable: list[overview.Unreadable] = []
        for found in host_reports.read(layout.fleet_repo, branches):
            view = overview.Unreadable(overview.text(found.host, 80) or "", found.branch,
                                       found.problem or "unreadable") \
                if found.text is None else overview.host_view(found.host, found.branch,
                                                              found.text)
            if isinstance(view, overview.HostView):
                views.append(view)
            else:
                unreadable.append(view)
        moment = now()
        document = overview.overview(views, unreadable, moment,
                                     stale_after if stale_after is not None
                                     else config.stale_after, head)
        if as_json:
            click.echo(json.dumps(document, indent=2))
        else:
            for line in fleet_render.to_text(document, moment):
                click.echo(line)
        if config.notify:  # a dead host cannot say so itself: `stale` comes from here
            from gitops_agent.publish import notify

            notify.notify_fleet(config.notify, document["hosts"], layout.fleet_notify_file)
        if publish:
            changed = fleet_branch.publish(layout.fleet_repo, config.status.url, auth, document)
            click.echo(f"{fleet_branch.BRANCH}: " + ("published" if changed else
                                                    "already up to date"), err=as_json)
        housekeeping.tidy_one(layout.fleet_repo, time.time())  # under fleet's own lock
    return overview.exit_code(document)
