"""Exceptions that carry a one-line message and the exit code they stand for."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_CHANGES_PENDING = 3
EXIT_STALE = 4  # status / fleet: no pass seen for too long
EXIT_ACCESS_PENDING = 3  # setup: set up, but the config repo cannot be reached yet
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130

# The exit codes: what each means, command by command. The one list the commands'
# --help shows (cli.py) and the README's "Command line" table must agree with (a test
# reads the table); COMMON_EXITS hold for every command besides its own.
COMMON_EXITS = {
    EXIT_FAILED: "an error, named in one line on stderr",
    EXIT_BAD_CONFIG: "a bad command line or agent config",
    EXIT_INTERRUPTED: "interrupted",
}
EXITS: dict[str, dict[int, str]] = {
    "run": {EXIT_OK: "all ok (also with apps waiting for a rollout gate)",
            EXIT_FAILED: "an app failed, was blocked or rolled back, or the config repo is "
                         "unreachable",
            EXIT_BAD_CONFIG: "bad config, app file or fleet.yml",
            EXIT_LOCKED: "another run holds the lock"},
    "watch": {EXIT_OK: "stopped by SIGTERM or SIGINT"},
    "sync": {EXIT_OK: "a pass was asked for", EXIT_FAILED: "no daemon"},
    "run-playbook": {EXIT_OK: "the playbook (or its check) went through",
                     EXIT_FAILED: "it failed, or the config repo is unreachable",
                     EXIT_LOCKED: "another run holds the lock"},
    "plan": {EXIT_OK: "nothing to do", EXIT_FAILED: "an error",
             EXIT_CHANGES_PENDING: "changes pending"},
    "status": {EXIT_OK: "all ok", EXIT_FAILED: "an app failed, was blocked or rolled back, "
                                               "or the last pass failed (wins over 4)",
               EXIT_STALE: "stale: no pass within 2 x interval"},
    "fleet": {EXIT_OK: "all ok", EXIT_FAILED: "a host has a failed app or its last pass "
                                              "failed (wins over 4), or the status repo "
                                              "cannot be read or written",
              EXIT_STALE: "a host is stale", EXIT_LOCKED: "another fleet is running"},
    "artifacts": {EXIT_OK: "shown", EXIT_FAILED: "no such run"},
    "validate": {EXIT_OK: "valid", EXIT_BAD_CONFIG: "invalid"},
    "suspend": {EXIT_OK: "suspended", EXIT_FAILED: "suspended.json is unreadable",
                EXIT_BAD_CONFIG: "no such app on this host, or no reason"},
    "resume": {EXIT_OK: "resumed (or was not suspended)",
               EXIT_FAILED: "suspended.json is unreadable",
               EXIT_BAD_CONFIG: "no such app on this host"},
    "configure": {EXIT_OK: "saved, or nothing changed", EXIT_BAD_CONFIG: "an invalid edit"},
    "completion": {EXIT_OK: "the script is printed"},
    "setup": {EXIT_OK: "set up, and the agent can reach its config repo (started where "
                       "systemd runs); --uninstall: removed",
              EXIT_FAILED: "a step failed (not root, ssh-keygen, ssh-keyscan, systemctl, "
                           "systemd-analyze verify)",
              EXIT_BAD_CONFIG: "a required value is missing (no terminal to ask on), a "
                               "value or the existing config is invalid",
              EXIT_ACCESS_PENDING: "set up, but the config repo cannot be reached yet (the "
                                   "deploy key is not registered, say): not started"},
    "init": {EXIT_OK: "the config repo is written",
             EXIT_BAD_CONFIG: "DIR already has app files"},
    "import-legacy": {EXIT_OK: "converted",
                      EXIT_BAD_CONFIG: "the file cannot be read or converted, or app files "
                                       "would be overwritten"},
}


def exit_help(command: str) -> str:
    """The exit codes of `command`, for its --help."""
    own = "; ".join(f"{code} {what}" for code, what in sorted(EXITS[command].items()))
    common = "; ".join(f"{code} {what}" for code, what in COMMON_EXITS.items())
    return f"Exit {own}. Any command: {common}."


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
