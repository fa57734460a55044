"""`gitops-agent completion bash|zsh|fish`: click's own shell completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from gitops_agent.errors import ConfigError


def completion(shell: str, prog: str) -> int:
    """Print the script that has `shell` ask the program itself for completions (it runs
    `prog` with _GITOPS_AGENT_COMPLETE set, which click answers)."""
    root = click.get_current_context().find_root().command
    complete_var = f"_{prog}_COMPLETE".replace("-", "_").upper()
    found = get_completion_class(shell)
    if found is None:  # the command's click.Choice lets only bash, zsh and fish through
        raise ConfigError(f"no shell completion for {shell}")
    click.echo(found(root, {}, prog, complete_var).source())
    return 0
