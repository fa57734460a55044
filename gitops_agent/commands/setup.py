"""`gitops-agent setup`: set this host up as a root operator would — directories, the
agent config, the deploy key, pinned host keys, the systemd units — then check that the
agent can reach its config repo, and only then enable and start it (a pass started
before the deploy key is registered can only fail). Idempotent: a re-run says
"unchanged" per item; `--dry-run` says what it would do and writes nothing."""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import click

from gitops_agent.config import AgentConfig
from gitops_agent.errors import EXIT_ACCESS_PENDING, EXIT_OK, ConfigError, FatalError
from gitops_agent.setup import access, config_file, deploy_key, known_hosts, service, units
from gitops_agent.setup.changes import Changes
from gitops_agent.setup.config_file import Values
from gitops_agent.setup.paths import CONFIG_FILE, Host
from gitops_agent.setup.uninstall import uninstall


@dataclass(frozen=True)
class Options:
    values: Values
    mode: str | None = None
    git_host: str | None = None
    known_hosts_file: Path | None = None
    root: Path | None = None
    dry_run: bool = False
    check: bool = False
    restart: bool = False
    uninstall: bool = False
    purge: bool = False


def setup(options: Options) -> int:
    """Set the host up as `options` say; an OS error (a file root's, a directory where a
    file belongs) is one line that names the path."""
    elsewhere = os.environ.get("GITOPS_AGENT_CONFIG")
    if elsewhere and Path(elsewhere) != Path(CONFIG_FILE):
        click.echo(f"gitops-agent: warning: GITOPS_AGENT_CONFIG={elsewhere} is left aside: "
                   f"setup writes {CONFIG_FILE}, where the units look", err=True)
    try:
        return _setup(options)
    except BrokenPipeError:  # stdout's reader went away: not a file of the host's
        raise
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        hint = " (setup reads and writes files of root: run it as root)" if (
            isinstance(error, PermissionError) and os.geteuid() != 0) else ""
        raise FatalError(f"{where}{error.strerror or error}{hint}") from None


def _setup(options: Options) -> int:
    _refuse_mixed(options)
    host = Host(_root(options.root))
    if host.root is None and os.geteuid() != 0 and not options.dry_run:
        raise FatalError("setup writes to /etc and /var/lib: run it as root (or write under "
                         "a directory with --root DIR)")
    changes = Changes(options.dry_run)
    if options.uninstall:
        _title("uninstall", options, host)
        uninstall(changes, host, options.purge)
        return EXIT_OK
    if options.check:
        return _check_only(host)
    target = known_hosts.parse(options.git_host) if options.git_host else None
    mode = options.mode or units.installed_mode(host) or "daemon"
    new = _new_config(host, options.values)
    _title(f"{mode} mode", options, host)
    config = _config(changes, host, new, options.values)
    changes.directory(host.path(config.state_dir), 0o700)
    public = _key(changes, host, config)
    targets = _pin(changes, host, config, options, target)
    units_changed = units.install(changes, host, mode)  # checked with systemd-analyze verify
    if units_changed:
        service.reload(changes, host)
    _show_keys(host, config, public, targets)
    if options.dry_run:
        click.echo("\nThen: check that `git ls-remote` of the config repo works with the deploy "
                   f"key, and start {service.START[mode]} if it does.")
        return EXIT_OK
    result = access.check(config, host)
    click.echo(f"\nAccess: {result.message}")
    if not result.ok:
        _next_steps(config, host, result)
        return EXIT_ACCESS_PENDING
    service.start(changes, host, mode, restart=units_changed or options.restart)
    return EXIT_OK


def _refuse_mixed(options: Options) -> None:
    """--uninstall, --purge and --check take none of the flags that set things up."""
    setting = [*options.values.given(),
               *[flag for flag, given in (("--mode", options.mode),
                                          ("--git-host", options.git_host),
                                          ("--known-hosts-file", options.known_hosts_file),
                                          ("--restart", options.restart)) if given]]
    if options.purge and not options.uninstall:
        raise ConfigError("--purge goes with --uninstall")
    for flag, on, others in (("--uninstall", options.uninstall, setting),
                             ("--check", options.check, setting + [
                                 flag for flag, given in (("--dry-run", options.dry_run),
                                                          ("--uninstall", options.uninstall))
                                 if given])):
        if on and others:
            raise ConfigError(f"{flag} does not take {others[0]}")


def _root(root: Path | None) -> Path | None:
    """The root to write under; None for this system (`--root /`). A path that only leads
    to / (a link someone left in /tmp, say) is refused: it would set up this host for real."""
    if root is None:
        return None
    resolved = Path(os.path.realpath(root))
    if resolved == Path("/") and os.path.normpath(root).strip("/"):
        raise ConfigError(f"--root {root} leads to /: give --root / (or none) to set up this "
                          "host itself")
    return None if resolved == Path("/") else resolved


def _title(what: str, options: Options, host: Host) -> None:
    where = f" under {host.root}" if host.root else ""
    dry = " (dry run: nothing is written)" if options.dry_run else ""
    click.echo(f"gitops-agent setup, {what}{where}{dry}:")


def _new_config(host: Host, values: Values) -> tuple[str, AgentConfig] | None:
    """The text of a new config from the flags (or prompts), and the config it is —
    None when there is a config already."""
    if host.config_file.exists():
        if not host.config_file.is_file():
            raise FatalError(f"{host.config_file} is not a regular file: move it away first")
        return None
    values = config_file.ask_missing(values, sys.stdin.isatty())
    config_file.check_values(values)
    text = config_file.render(values)
    return text, config_file.load(host.config_file, text)


def _config(changes: Changes, host: Host, new: tuple[str, AgentConfig] | None,
            values: Values) -> AgentConfig:
    """The new config written, or the existing one kept (never overwritten)."""
    changes.directory(host.config_dir, 0o700)
    changes.hold(host.config_dir)
    if new is not None:
        changes.file(host.config_file, new[0], 0o600)
        return new[1]
    changes.mode(host.config_file, 0o600)
    if values.given():
        click.echo(f"  {'':13}({', '.join(values.given())} left it as it is: change it with "
                   "`gitops-agent configure`)")
    return config_file.load(host.config_file)


def _key(changes: Changes, host: Host, config: AgentConfig) -> str | None:
    if not config.config_repo.ssh_key:
        changes.say("skipped", "the deploy key: config_repo.ssh_key is not set")
        return None
    key = host.path(config.config_repo.ssh_key)
    return deploy_key.ensure(changes, key, f"gitops-agent@{config.host}")


def _pin(changes: Changes, host: Host, config: AgentConfig, options: Options,
         target: known_hosts.Target | None) -> list[known_hosts.Target]:
    """The git hosts' keys pinned: from --known-hosts-file, or scanned (--git-host, else
    the hosts of the ssh URLs in the config). Returns the hosts pinned."""
    if not config.config_repo.known_hosts:
        changes.say("skipped", "pinning host keys: config_repo.known_hosts is not set")
        return []
    path = host.path(config.config_repo.known_hosts)
    known_hosts.ensure_file(changes, path)
    if options.known_hosts_file is not None:
        known_hosts.pin_from_file(changes, path, options.known_hosts_file)
        return []
    targets = [target] if target else sorted({found for url in (
        config.config_repo.url, config.status.url) if (found := known_hosts.ssh_target(url))})
    for each in targets:
        known_hosts.pin_scanned(changes, path, each)
    return targets


def _show_keys(host: Host, config: AgentConfig, public: str | None,
               targets: list[known_hosts.Target]) -> None:
    repo = config.config_repo
    if repo.known_hosts:
        found = known_hosts.fingerprints(host.path(repo.known_hosts), targets)
        if found:
            click.echo(f"\nHost keys pinned in {repo.known_hosts} (compare them with the "
                       "fingerprints your git host publishes):")
            for line in found:
                click.echo(f"  {line}")
    if repo.ssh_key:
        click.echo(f"\nThe deploy key, {repo.ssh_key}.pub:")
        click.echo(f"  {public}" if public else "  (a new key, made when setup runs)")


def _next_steps(config: AgentConfig, host: Host, result: access.Access) -> None:
    click.echo("")
    if not result.reached and config.config_repo.ssh_key and access.uses_ssh(config):
        for number, step in enumerate(access.grants(config)):
            click.echo(_wrap(step, "Next: " if number == 0 else " " * 6, " " * 6))
    root = f" --root {host.root}" if host.root else ""
    click.echo(_wrap(f"Then run `gitops-agent setup{root}` again: it checks access and starts "
                     "the agent (`gitops-agent setup --check` only checks). The agent is not "
                     "started before: its first pass would fail."))


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    """`text` in lines of 88 characters; URLs and paths are never broken."""
    return textwrap.fill(text, 88, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def _check_only(host: Host) -> int:
    """--check: can the agent reach its config repo? Changes nothing."""
    if not host.config_file.exists():
        raise FatalError(f"{host.config_file} does not exist: run `gitops-agent setup` first")
    config = config_file.load(host.config_file)
    result = access.check(config, host)
    click.echo(f"Access: {result.message}")
    if result.ok:
        return EXIT_OK
    _next_steps(config, host, result)
    return EXIT_ACCESS_PENDING
