"""The decorator every verb of the command line shares: --config and --debug, logging,
the error handler and the exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gitops_agent import git, log
from gitops_agent.config import DEFAULT_CONFIG_PATH, config_path, load_agent_config
from gitops_agent.error_handler import exit_codes
from gitops_agent.errors import ConfigError

F = Callable[..., Any]


def command(needs_config: bool = True, needs_path: bool = False,
            no_config: str | None = None) -> Callable[[F], F]:
    """Give a verb --config and --debug, logging, the error handler and the exit code.

    The verb gets the loaded `config`, or with `needs_path` only the config's `path`.
    With `no_config` (why) the verb works on the default config file only: a --config
    naming another is refused with that reason (setup writes the config where the units
    look for it)."""

    def decorate(body: F) -> F:
        @click.option("--debug", is_flag=True, help="Log everything; tracebacks on errors.")
        @click.pass_context
        @functools.wraps(body)
        def wrapper(context: click.Context, debug: bool, config_file: str | None = None,
                    **kwargs: Any) -> None:
            shared = context.find_root().params
            debug = debug or bool(shared.get("debug"))
            log.setup(debug=debug)
            git.scrub_environment()
            with exit_codes(debug):
                given = config_file or shared.get("config_file")
                if no_config is not None and given and Path(given) != DEFAULT_CONFIG_PATH:
                    raise ConfigError(f"{context.info_name} takes no --config: {no_config}")
                path = config_path(given)
                if needs_path:
                    kwargs["path"] = path
                elif needs_config:
                    kwargs["config"] = load_agent_config(path)
                code = body(**kwargs)
            context.exit(code)

        help_text = (f"Agent config: only {DEFAULT_CONFIG_PATH} ({no_config})." if no_config
                     else f"Agent config (default $GITOPS_AGENT_CONFIG, then "
                          f"{DEFAULT_CONFIG_PATH}).")
        return click.option("--config", "config_file", metavar="PATH", default=None,
                            help=help_text)(wrapper)

    return decorate
