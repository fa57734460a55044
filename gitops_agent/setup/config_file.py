"""The agent config setup writes: the commented template (config/template.py) filled
from flags or, on a terminal, prompts; validated by the agent's own loader; never
written over an existing one."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import click

from gitops_agent.commands.configure import problems
from gitops_agent.config import AgentConfig, load_agent_config, template
from gitops_agent.config.urls import validate_url
from gitops_agent.errors import ConfigError

HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # the schema's host.name
BRANCH = re.compile(r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]*")


@dataclass(frozen=True)
class Values:
    """What only the operator knows; None: not given."""

    config_url: str | None = None
    branch: str | None = None
    host_name: str | None = None
    status_url: str | None = None

    def given(self) -> list[str]:
        return [flag for flag, value in (("--config-url", self.config_url),
                                         ("--branch", self.branch),
                                         ("--host-name", self.host_name),
                                         ("--status-url", self.status_url)) if value]


def short_hostname() -> str:
    return socket.gethostname().split(".")[0]


def ask_missing(values: Values, interactive: bool) -> Values:
    """`values` with the config URL there: asked for on a terminal (with the optional
    values, when setup was started without flags), else a one-line error."""
    if values.config_url:
        return values
    if not interactive:
        raise ConfigError("--config-url is missing: give the config repo's git URL (there is "
                          "no terminal to ask on); nothing was written")
    asked = replace(values, config_url=click.prompt(
        "The config repo's git URL (config_repo.url)", value_proc=_url))
    if values.given():
        return asked
    branch = click.prompt("Its branch", default="main")
    host = click.prompt("This host's name (host.name)", default=short_hostname())
    status = click.prompt("Push status reports to another repo (status.url; empty: to the "
                          "config repo)", default="", show_default=False,
                          value_proc=lambda text: _url(text) if text.strip() else "")
    return replace(asked, branch=branch, host_name=host if host != short_hostname() else None,
                   status_url=status or None)


def _url(text: str) -> str:
    """A URL typed at a prompt: asked again when git could not take it."""
    try:
        validate_url(text.strip())
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    return text.strip()


def check_values(values: Values) -> None:
    """One clear line for the first value that cannot go into the config."""
    for flag, url in (("--config-url", values.config_url), ("--status-url", values.status_url)):
        if url is not None:
            try:
                validate_url(url)
            except ConfigError as error:
                raise ConfigError(f"{flag}: {error}") from None
    if values.branch is not None and not BRANCH.fullmatch(values.branch):
        raise ConfigError(f"--branch {values.branch!r} is not a branch name")
    if values.host_name is not None and not HOST_NAME.fullmatch(values.host_name):
        raise ConfigError(f"--host-name {values.host_name!r}: use letters, digits, '_', '.' "
                          "and '-' (at most 63)")


def render(values: Values) -> str:
    return template.render(host_name=values.host_name, config_url=values.config_url,
                           branch=values.branch or "main", status_url=values.status_url)


def load(path: Path, text: str | None = None) -> AgentConfig:
    """The config at `path` as the agent reads it — or `text`, a config not written yet,
    read from memory (a dry run writes nothing, not even a scratch file). Every problem
    is printed as `path:line: key: problem`, then a ConfigError ends setup."""
    if text is None:
        found = problems(path, path.read_text(encoding="utf-8", errors="replace"), path)
        if not found:
            return load_agent_config(path)
    else:
        handle = os.memfd_create("gitops-agent-config")
        try:
            os.write(handle, text.encode("utf-8"))
            draft = Path(f"/proc/self/fd/{handle}")
            found = problems(draft, text, path)
            if not found:
                return dataclasses.replace(load_agent_config(draft), path=path)
        finally:
            os.close(handle)
    for problem in found:
        click.echo(problem, err=True)
    written = "is not valid" if text is None else "would not be valid: not written"
    raise ConfigError(f"{path} {written} ({len(found)} problem(s) above)"
                      + (": fix it with `gitops-agent configure`" if text is None else ""))
