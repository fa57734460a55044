"""One line that says why a git command failed, from its stderr."""

from __future__ import annotations

import re

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


_CREDENTIALS = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")


def redact(text: str) -> str:
    """`text` with the password or token of any https://user:token@host URL hidden."""
    return _CREDENTIALS.sub(r"\1:***@", text)
