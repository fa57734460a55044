"""What git did and said, fit for humans: why a command failed (one line, from its
stderr), and its command line for the debug log, URL credentials redacted."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

# user[:password or token]@, up to the last @ of the authority (a password may hold one)
CREDENTIALS = re.compile(r"(?i)\b(https?://)[^/\s]+@")
PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/:@\s]+):[^/\s]*@")  # user:password@

SSH_HINTS = (
    ("Host key verification failed",
     "the git host's ssh key is not in known_hosts or has changed (pin it: ssh-keyscan the "
     "host, compare the fingerprint, add it to config_repo.known_hosts)"),
    ("Permission denied (publickey",
     "the git host refused the ssh key (register config_repo.ssh_key's public key as a "
     "deploy key of this repo)"),
    ("Could not resolve hostname", "the git host's name does not resolve"),
    ("Connection refused", "the git host refused the connection (wrong host or port?)"),
    ("Connection timed out", "the git host did not answer (network or firewall)"),
)
GENERIC = ("fatal: Could not read from remote repository", "Please make sure you have",
           "and the repository exists", "error: failed to push some refs")


def reason(stderr: str, status: int | None) -> str:
    """One line that says why git failed: an ssh hint, the remote's own words, or git's."""
    for needle, hint in SSH_HINTS:
        if needle in stderr:
            return hint
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(GENERIC)]
    important = [line for line in useful if line.startswith(("fatal:", "error:", "Timeout"))]
    remote = [line for line in useful if line.startswith("remote:") or "denied" in line.lower()
              or "read only" in line.lower() or "read-only" in line.lower()]
    return (remote or important or useful or lines or [f"exit code {status}"])[-1]


def redact(text: str) -> str:
    """`text` without URL credentials: https://user:token@host -> https://***@host, and the
    password of a user:password@ in any other URL."""
    return PASSWORD.sub(r"\1:***@", CREDENTIALS.sub(r"\1***@", text))


def command_line(command: Sequence[str], fixed: Sequence[str]) -> str:
    """A git command as the debug log shows it: without the `fixed` options every call
    gets, URL credentials redacted."""
    args = list(command[1:])
    if args[:len(fixed)] == list(fixed):
        args = args[len(fixed):]
    return redact(shlex.join([command[0], *args]))
