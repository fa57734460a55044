"""The host's SSH deploy key: made with ssh-keygen (ed25519, no passphrase) when there is
none, a kept one checked to be usable by the agent (no passphrase: it runs ssh with
BatchMode=yes)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gitops_agent.errors import FatalError
from gitops_agent.execute import proc
from gitops_agent.setup.changes import Changes

KEYGEN_MISSING = "ssh-keygen is missing: apt-get install openssh-client"


def ensure(changes: Changes, key: Path, comment: str) -> str | None:
    """The key pair at `key` and `key.pub` (0600, 0644); returns the public key line (None
    in a dry run that would make a new key)."""
    public = key.with_name(f"{key.name}.pub")
    if key.is_symlink() or key.is_dir():
        raise FatalError(f"{key} is not a regular file: move it away first")
    changes.leftovers(key.parent, ".keygen-*")  # a key made by a run killed before its rename
    if not key.exists():
        if changes.change("created", f"{key} (mode 0600) and {public.name}: a new deploy key"):
            _generate(key, comment)
            return public.read_text(encoding="utf-8").strip()
        return None
    changes.mode(key, 0o600)
    derived = _public_of(key)
    if not public.exists() or public.read_text(encoding="utf-8").split()[:2] != derived.split()[:2]:
        line = derived if len(derived.split()) > 2 else f"{derived} {comment}"
        changes.file(public, f"{line}\n", 0o644)
    else:
        changes.mode(public, 0o644)
    return public.read_text(encoding="utf-8").strip() if public.exists() else derived


def _public_of(key: Path) -> str:
    """The public half of `key`, read from a 0600 copy in memory: ssh-keygen refuses a key
    others may read, and a dry run leaves a wrong mode as it is."""
    handle = os.memfd_create("gitops-agent-key")
    try:
        os.write(handle, key.read_bytes())
        os.fchmod(handle, 0o600)
        copy = f"/dev/fd/{handle}"
        done = proc.run(["ssh-keygen", "-y", "-P", "", "-f", copy], timeout=30,
                        pass_fds=(handle,))
    finally:
        os.close(handle)
    if done.rc == 127:
        raise FatalError(KEYGEN_MISSING)
    if done.rc != 0:
        raise FatalError(f"{key} is not a private key without a passphrase, which the agent "
                         "needs (it runs ssh with BatchMode=yes): "
                         f"{done.last_line().replace(copy, str(key))}")
    return done.stdout.strip()


def _generate(key: Path, comment: str) -> None:
    """Made in a scratch dir beside `key`, then renamed into place: the public key first,
    so that a private key is never there without it."""
    key.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".keygen-", dir=key.parent) as scratch:
        made = Path(scratch) / "key"
        done = proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                         "-f", str(made)], timeout=60)
        if done.rc == 127:
            raise FatalError(KEYGEN_MISSING)
        if done.rc != 0:
            raise FatalError(f"ssh-keygen failed (exit {done.rc}): {done.last_line()}")
        os.chmod(made, 0o600)
        os.chmod(made.with_name("key.pub"), 0o644)
        os.replace(made.with_name("key.pub"), key.with_name(f"{key.name}.pub"))
        os.replace(made, key)
