"""The click command line: parsing only; each verb lives in gitops_agent.commands."""

from __future__ import annotations

from pathlib import Path

import click

from gitops_agent import __version__
from gitops_agent.config import DEFAULT_CONFIG_PATH, AgentConfig
from gitops_agent.errors import exit_help
from gitops_agent.verb import command

PROG = "gitops-agent"


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
@click.option("--config", "config_file", metavar="PATH", default=None,
              help="Agent config for every command.")
@click.option("--debug", is_flag=True, help="Log everything; tracebacks on errors.")
@click.option("--configure", "configure_flag", is_flag=True,
              help="Same as `gitops-agent configure`.")
@click.version_option(__version__, prog_name=PROG)
@click.pass_context
def main(context: click.Context, config_file: str | None, debug: bool,
         configure_flag: bool) -> None:
    """GitOps for plain servers: apply a git repo's Ansible on this host, report to git."""
    if configure_flag:
        context.invoke(configure_command)
    elif context.invoked_subcommand is None:
        click.echo(context.get_help())


@main.command("configure", epilog=exit_help("configure"))
@command(needs_path=True)
def configure_command(path: Path) -> int:
    """Edit the agent config in $EDITOR; it is saved only when valid (like visudo)."""
    from gitops_agent.commands.configure import configure

    return configure(path)


@main.command("setup", epilog=exit_help("setup"))
@click.option("--config-url", metavar="URL", help="config_repo.url: the config repo (asked for "
              "on a terminal; required for a new config).")
@click.option("--branch", metavar="NAME", help="config_repo.branch (default main).")
@click.option("--host-name", metavar="NAME",
              help="host.name (default: the agent takes the short hostname).")
@click.option("--status-url", metavar="URL",
              help="status.url: push reports to this repo instead of the config repo.")
@click.option("--mode", type=click.Choice(["daemon", "timer"]), default=None,
              help="daemon: gitops-agent.service (`watch`); timer: gitops-agent-run.timer + "
                   ".service (`run`). Default: the mode set up already, else daemon.")
@click.option("--git-host", metavar="HOST[:PORT]",
              help="Pin this host's keys with ssh-keyscan (default: the hosts of the ssh URLs "
                   "in the config).")
@click.option("--known-hosts-file", metavar="FILE", type=click.Path(path_type=Path),
              help="Pin the host keys of this known_hosts file instead of scanning.")
@click.option("--root", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Write everything under DIR (an image, a test); run no systemctl.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; write nothing.")
@click.option("--check", is_flag=True,
              help="Only check that the agent can reach its config repo (git ls-remote with "
                   "the deploy key); change nothing.")
@click.option("--restart", is_flag=True,
              help="Restart a running daemon (install.sh passes it after an upgrade).")
@click.option("--uninstall", is_flag=True,
              help="Stop and remove the units; keep the config, key and state.")
@click.option("--purge", is_flag=True,
              help="With --uninstall: also remove /etc/gitops-agent and /var/lib/gitops-agent.")
@command(needs_config=False, no_config=f"it writes {DEFAULT_CONFIG_PATH}, where the units look "
         "(write under another directory with --root DIR)")
def setup_command(config_url: str | None, branch: str | None, host_name: str | None,
                  status_url: str | None, mode: str | None, git_host: str | None,
                  known_hosts_file: Path | None, root: Path | None, dry_run: bool, check: bool,
                  restart: bool, uninstall: bool, purge: bool) -> int:
    """Set this host up (as root): config, deploy key, pinned host keys, systemd units;
    start the agent once it can reach its config repo. Safe to run again.

    \b
    A new config takes its values from the flags, or asks on a terminal; an existing
    one is never changed (edit it with `gitops-agent configure`). After registering
    the deploy key it prints, run `gitops-agent setup` again: it checks access and
    starts the agent."""
    from gitops_agent.commands.setup import Options, setup
    from gitops_agent.setup.config_file import Values

    return setup(Options(Values(config_url, branch, host_name, status_url), mode, git_host,
                         known_hosts_file, root, dry_run, check, restart, uninstall, purge))


@main.command("completion", epilog=exit_help("completion"))
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@command(needs_config=False)
def completion_command(shell: str) -> int:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    \b
    bash: eval "$(gitops-agent completion bash)"   (in ~/.bashrc)
    zsh:  eval "$(gitops-agent completion zsh)"    (in ~/.zshrc)
    fish: gitops-agent completion fish > ~/.config/fish/completions/gitops-agent.fish"""
    from gitops_agent.commands.completion import completion

    return completion(shell, PROG)


@main.command("run", epilog=exit_help("run"))
@click.option("--app", "apps", multiple=True, help="Reconcile only this app (repeatable).")
@click.option("--force", is_flag=True, help="Apply even what did not change.")
@click.option("--no-push", is_flag=True, help="Do not push the status report.")
@click.option("--drift-check", is_flag=True,
              help="Also check unchanged apps in check mode: report drift or self-heal.")
@click.option("--allow-rewind", is_flag=True,
              help="With verify: apply a config commit that does not descend from the "
                   "last applied one (a rollback), this once.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@command()
def run_command(config: AgentConfig, apps: tuple[str, ...], force: bool, no_push: bool,
                drift_check: bool, allow_rewind: bool, as_json: bool) -> int:
    """One reconcile pass (what a systemd timer calls)."""
    from gitops_agent.commands.run import run

    return run(config, apps, force, not no_push, drift_check, allow_rewind, as_json)


@main.command("plan", epilog=exit_help("plan"))
@click.option("--app", "apps", multiple=True, help="Plan only this app (repeatable).")
@click.option("--check", "--diff", "check", is_flag=True,
              help="Also run each app to apply in Ansible's check+diff mode.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@command()
def plan_command(config: AgentConfig, apps: tuple[str, ...], check: bool,
                 as_json: bool) -> int:
    """Which apps the next pass would apply, and why; runs nothing, moves nothing."""
    from gitops_agent.commands.plan import plan

    return plan(config, apps, check, as_json)


@main.command("watch", epilog=exit_help("watch"))
@command()
def watch_command(config: AgentConfig) -> int:
    """Daemon: a pass every interval, on watched-file edits and on config changes.

    SIGUSR1 (or `gitops-agent sync`) asks for a pass now; SIGHUP reloads the config;
    SIGTERM/SIGINT cancel a running playbook and stop cleanly (exit 0)."""
    from gitops_agent.commands.watch import watch

    return watch(config)


@main.command("sync", epilog=exit_help("sync"))
@command()
def sync_command(config: AgentConfig) -> int:
    """Ask the running `watch` daemon for a pass now."""
    from gitops_agent.commands.watch import sync

    return sync(config)


@main.command("run-playbook", epilog=exit_help("run-playbook"))
@click.argument("app")
@click.option("--check", is_flag=True, help="Check mode: change nothing, record nothing.")
@click.option("--diff", is_flag=True, help="Show the changes files would get.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output (Ansible's output stays in the run's artifacts).")
@command()
def run_playbook_command(config: AgentConfig, app: str, check: bool, diff: bool,
                         as_json: bool) -> int:
    """Run one app's playbook now, showing Ansible's output."""
    from gitops_agent.commands.run import run_playbook

    return run_playbook(config, app, check, diff, as_json)


@main.command("status", epilog=exit_help("status"))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@command()
def status_command(config: AgentConfig, as_json: bool) -> int:
    """Last result of every app on this host, from local state."""
    from gitops_agent.commands.status import status

    return status(config, as_json)


@main.command("fleet", epilog=exit_help("fleet"))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--publish", is_flag=True,
              help="Also commit fleet.md and fleet.yml to branch gitops-fleet of the status "
                   "repo (only when something changed).")
@click.option("--stale-after", type=click.IntRange(min=1), metavar="SECONDS", default=None,
              help="A host is stale without a pass for this long "
                   "(default 2 x status.heartbeat + interval).")
@command()
def fleet_command(config: AgentConfig, as_json: bool, publish: bool,
                  stale_after: int | None) -> int:
    """Every host's report, read from the status branches: failed and stale hosts, and
    how far the newest config commit has come, wave by wave (fleet.yml)."""
    from gitops_agent.commands.fleet import fleet

    return fleet(config, as_json, publish, stale_after)


@main.command("artifacts", epilog=exit_help("artifacts"))
@click.argument("app")
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@command()
def artifacts_command(config: AgentConfig, app: str, run_id: str | None, as_json: bool) -> int:
    """List an app's kept runs, or show one run: tasks, failures, stdout."""
    from gitops_agent.commands.artifacts import artifacts

    return artifacts(config, app, run_id, as_json)


def _labels(context: click.Context, parameter: click.Parameter,
            values: tuple[str, ...]) -> dict[str, str]:
    pairs = [value.partition("=") for value in values]
    bad = [value for value, (_, equals, _) in zip(values, pairs, strict=True) if not equals]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: write labels as KEY=VALUE")
    return {key: value for key, _, value in pairs}


@main.command("validate", epilog=exit_help("validate"))
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", "hosts", multiple=True, metavar="NAME",
              help="Show which apps a host of this name gets (repeatable).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", callback=_labels,
              help="Labels of the --host examples (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@command(needs_config=False)
def validate_command(directory: Path, hosts: tuple[str, ...], labels: dict[str, str],
                     as_json: bool) -> int:
    """Check a config repo checkout: schema, references, playbook syntax."""
    from gitops_agent.commands.validate import validate

    return validate(directory, hosts, labels, as_json)


@main.command("init", epilog=exit_help("init"))
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@command(needs_config=False)
def init_command(directory: Path) -> int:
    """Scaffold a working config repo (an app, a playbook, a role) in DIRECTORY."""
    from gitops_agent.commands.init import init

    return init(directory)


@main.command("import-legacy", epilog=exit_help("import-legacy"))
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Config repo checkout to write apps/*.yml into.")
@click.option("--force", is_flag=True, help="Overwrite existing app files.")
@command(needs_config=False)
def import_legacy_command(source: Path, out: Path, force: bool) -> int:
    """Convert the original tool's infra_meta.toml into apps/*.yml using deploy:."""
    from gitops_agent.commands.import_legacy import import_legacy

    return import_legacy(source, out, force)


@main.command("suspend", epilog=exit_help("suspend"))
@click.argument("app")
@click.option("--reason", required=True, help="Why; shown in the report with who and when.")
@command()
def suspend_command(config: AgentConfig, app: str, reason: str) -> int:
    """Leave one app alone on this host and report it suspended."""
    from gitops_agent.commands.suspend import suspend

    return suspend(config, app, reason)


@main.command("resume", epilog=exit_help("resume"))
@click.argument("app")
@command()
def resume_command(config: AgentConfig, app: str) -> int:
    """Reconcile a suspended app again."""
    from gitops_agent.commands.suspend import resume

    return resume(config, app)
