"""Is a config commit signed by a key that is allowed *now*?

`git verify-commit` checks an SSH signature against allowed_signers at the commit's
own date, which whoever commits can set: a key retired with `valid-before` would still
pass on a backdated commit. So a signature git accepts is checked once more with
`ssh-keygen -Y verify` at the current time. Only SSH signatures are accepted (the agent
verifies with gpg.format=ssh); an OpenPGP signature fails as unsigned.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from gitops_agent import git
from gitops_agent.execute import proc


def split_signed(commit: str) -> tuple[str, str] | None:
    """(payload git signed, armored signature) of a raw commit object; None: unsigned."""
    head, separator, message = commit.partition("\n\n")
    lines, signature, payload = head.split("\n"), [], []
    inside = False
    for line in lines:
        if line.startswith("gpgsig "):
            inside = True
            signature.append(line[len("gpgsig "):])
        elif inside and line.startswith(" "):
            signature.append(line[1:])
        else:
            inside = False
            payload.append(line)
    if not signature:
        return None
    return "\n".join(payload) + separator + message, "\n".join(signature) + "\n"


def valid_now(repo: Path, sha: str, allowed_signers: str) -> str | None:
    """None when the commit's signer is allowed at the current time, else the reason."""
    raw = git.run(["cat-file", "commit", sha], cwd=repo)[1]
    signed = split_signed(raw)
    if signed is None:
        return "no signature"
    payload, signature = signed
    now = time.strftime("%Y%m%d%H%M%SZ", time.gmtime())
    with tempfile.TemporaryDirectory() as scratch:
        signature_file = Path(scratch) / "signature"
        signature_file.write_text(signature)
        found = proc.run(["ssh-keygen", "-Y", "find-principals", "-f", allowed_signers,
                          "-s", str(signature_file), "-O", f"verify-time={now}"], timeout=30)
        principals = [line.strip() for line in found.stdout.splitlines() if line.strip()]
        if found.rc != 0 or not principals:
            return "its signing key is not allowed now (expired or revoked in allowed_signers)"
        checked = proc.run(["ssh-keygen", "-Y", "verify", "-f", allowed_signers, "-I",
                            principals[0], "-n", "git", "-s", str(signature_file),
                            "-O", f"verify-time={now}"], timeout=30, stdin=payload)
    return None if checked.rc == 0 else f"the signature does not verify now: {checked.last_line()}"
