"""`gitops-agent plan`: check+diff mode over this host's apps — what would change."""

from __future__ import annotations

import click

from gitops_agent.commands.run import cancel_on_signals
from gitops_agent.config import AgentConfig
from gitops_agent.errors import EXIT_CHANGES_PENDING, EXIT_FAILED, EXIT_OK
from gitops_agent.reconcile import Options, Pass


def plan(config: AgentConfig, apps: tuple[str, ...], diff: bool) -> int:
    options = Options(only=apps, force=True, check=True, diff=diff, show_output=diff,
                      push=False)
    cancel_on_signals(options.cancel)
    result = Pass(config, options).run()
    pending = errors = 0
    for name, record in sorted(result.records.items()):
        if record.state == "suspended":
            click.echo(f"{name}: suspended, not checked")
        elif record.state != "applied":
            errors += 1
            click.echo(f"{name}: cannot tell — {record.message} (does the playbook support "
                       "check mode?)")
        elif record.drifted_tasks:
            pending += 1
            click.echo(f"{name}: {len(record.drifted_tasks)} task(s) would change:")
            for task in record.drifted_tasks:
                click.echo(f"  ~ {task}")
        else:
            click.echo(f"{name}: nothing would change")
    if errors or result.exit_code not in (0, 1):
        return EXIT_FAILED
    return EXIT_CHANGES_PENDING if pending else EXIT_OK
