"""Exceptions that carry a one-line message and the exit code they stand for."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_CHANGES_PENDING = 3
EXIT_STALE = 4  # status / fleet: no pass seen for too long
EXIT_LOCKED = 75


class FatalError(Exception):
    """A failure the user can act on: printed as one line, exits with `exit_code`."""

    exit_code = EXIT_FAILED


class ConfigError(FatalError):
    """The agent config, an app file or a config repo is invalid."""

    exit_code = EXIT_BAD_CONFIG

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class LockHeld(FatalError):
    exit_code = EXIT_LOCKED


class GitError(FatalError):
    """A git command failed; the message names the command and git's own reason."""
