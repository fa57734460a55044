"""Every git call of the agent: a safe environment, URL checks, timeouts, one-line errors."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from git.cmd import Git

from gitops_agent.errors import ConfigError, GitError
from gitops_agent.git_reason import command_line, redact
from gitops_agent.git_reason import reason as _reason

log = logging.getLogger(__name__)
SIGNAL_GRACE = 10.0  # seconds git may still run after SIGTERM/SIGINT (to push the report)
_stopped_at: list[float] = []  # when a signal asked the agent to stop
NETWORK_TIMEOUT = 120.0
LOCAL_TIMEOUT = 60.0
IDENTITY = ("gitops-agent", "gitops-agent@localhost")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}$")  # a ref like this is a commit, never a name

# Applied to every git command: no hooks, no submodules, no fsmonitor, and only
# the file, ssh and https transports (an `ext::` URL can run commands).
SAFE_CONFIG = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "submodule.recurse=false",
    "-c", "fetch.recurseSubmodules=false",
    "-c", "protocol.allow=never",
    "-c", "protocol.file.allow=always",
    "-c", "protocol.ssh.allow=always",
    "-c", "protocol.https.allow=always",
    "-c", "http.lowSpeedLimit=1000",
    "-c", "http.lowSpeedTime=30",
    "-c", "advice.detachedHead=false",
    "-c", "init.defaultBranch=main",
    "-c", "gc.auto=0",
)
@dataclass(frozen=True)
class Auth:
    """How to reach remotes over ssh: a deploy key and pinned host keys (both optional)."""

    ssh_key: str | None = None
    known_hosts: str | None = None

    def check(self) -> None:
        """Refuse to start with a configured key or known_hosts file that cannot be read."""
        for key, path in (("config_repo.ssh_key", self.ssh_key),
                          ("config_repo.known_hosts", self.known_hosts)):
            if path and not os.access(path, os.R_OK):
                raise ConfigError(f"{key}: {path} does not exist or is not readable")


def scrub_environment() -> None:
    """Drop GIT_* variables leaked from a caller (a hook, a git alias) once at start."""
    for name in [name for name in os.environ if name.startswith("GIT_")]:
        del os.environ[name]


def _environment(auth: Auth) -> dict[str, str]:
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]
    if auth.ssh_key:
        ssh += ["-i", auth.ssh_key, "-o", "IdentitiesOnly=yes"]
    if auth.known_hosts:
        ssh += ["-o", f"UserKnownHostsFile={auth.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    return {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "file:ssh:https",
        "GIT_SSH_COMMAND": " ".join(ssh),
        "GIT_SSH_VARIANT": "ssh",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,  # no insteadOf, helpers or hooks from ~/.gitconfig
        "GIT_OPTIONAL_LOCKS": "0",  # `git status` must not rewrite the index (plan reads only)
    }


def run(args: list[str], cwd: Path | None = None, auth: Auth = Auth(),
        timeout: float = LOCAL_TIMEOUT, check: bool = True,
        env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    """Run `git <args>` (`stdin` its input: `cat-file --batch`); raise GitError (command,
    rc, git's last line) when it fails. Output is decoded with surrogateescape, so
    `out.encode("utf-8", "surrogateescape")` gives git's bytes back."""
    command = ["git", *SAFE_CONFIG, *args]
    environment = _environment(auth)
    if cwd is not None:  # never fall through to a repo above one of the agent's own
        environment["GIT_CEILING_DIRECTORIES"] = str(Path(cwd).resolve().parent)
    status, out, err = _execute(command, cwd, {**environment, **(env or {})}, timeout,
                                None if stdin is None else stdin.encode())
    if check and status != 0:
        raise GitError(redact(f"git {' '.join(args[:3])} failed: {_reason(err.decode(), status)}"))
    return status, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "replace")


def stop() -> None:
    """SIGTERM/SIGINT: git calls still running SIGNAL_GRACE seconds from now are killed
    (a dead remote would otherwise hold the agent for minutes); quick ones, such as the
    report's push, still finish."""
    if not _stopped_at:
        _stopped_at.append(time.monotonic())


def _execute(command: list[str], cwd: Path | None, env: dict[str, str],
             timeout: float, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run git through GitPython; it ends at `timeout` (monotonic), or soon after stop()."""
    # its own process group: git's helpers (git-remote-https, ssh) end with it; input
    # comes from a file (communicate() cannot go on writing it after a timeout)
    with tempfile.TemporaryFile() if stdin is not None else contextlib.nullcontext() as source:
        if source is not None:
            source.write(stdin or b"")
            source.seek(0)
        process = Git(str(cwd) if cwd else None).execute(
            command, as_process=True, env=env, start_new_session=True, istream=source)
    child = process.proc
    if child is None:
        raise GitError(f"{command[0]} did not start")
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            out, err = child.communicate(timeout=0.2)
            _trace(command, cwd, int(child.returncode), started)
            return int(child.returncode), out or b"", err or b""
        except subprocess.TimeoutExpired:
            signalled = bool(_stopped_at) and time.monotonic() > _stopped_at[0] + SIGNAL_GRACE
            if signalled or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                out, err = child.communicate()
                why = "stopped by a signal" if signalled else f"timed out after {timeout:.0f}s"
                _trace(command, cwd, -9, started)
                return -9, out or b"", (err or b"") + f"\nfatal: {why}\n".encode()


def _trace(command: list[str], cwd: Path | None, status: int, started: float) -> None:
    if log.isEnabledFor(logging.DEBUG):  # --debug: each git call, its exit and duration
        log.debug("%s (in %s): exit %d in %.2fs", command_line(command, SAFE_CONFIG),
                  cwd or ".", status, time.monotonic() - started)


def ls_remote(url: str, auth: Auth, heads: bool = False) -> dict[str, str]:
    """The remote's refs as {ref: sha}; annotated tags also appear peeled as `refs/tags/x^{}`.
    `heads`: branches only (protocol v2 asks the remote for refs/heads/ alone)."""
    _, out, _ = run(["ls-remote", *(["--heads"] if heads else []), "--", url], auth=auth,
                    timeout=NETWORK_TIMEOUT)
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref:
            refs[ref] = sha
    return refs


def head(path: Path) -> str | None:
    """The commit checked out in `path`. The agent's checkouts are always detached, so
    .git/HEAD holds the sha itself and no git process is needed; otherwise ask git."""
    try:
        text = (path / ".git" / "HEAD").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if FULL_SHA.match(text):
        return text
    status, out, _ = run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], cwd=path, check=False)
    return out.strip() if status == 0 else None


def unlock(repo: Path) -> None:
    """Drop the lock files a killed git left in bare repo `repo`. Only for a cache of
    the agent's own, while holding the lock that keeps its other gits out of it."""
    for name in ("shallow.lock", "HEAD.lock", "config.lock", "packed-refs.lock"):
        (repo / name).unlink(missing_ok=True)
    for stale in (repo / "refs").rglob("*.lock"):
        stale.unlink(missing_ok=True)


def has_commit(path: Path, sha: str) -> bool:
    status, _, _ = run(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=path, check=False)
    return status == 0


def local_changes(path: Path, ignored: bool = True) -> list[str]:
    """Files that differ from HEAD in the work tree, untracked ones included, and ignored
    ones unless `ignored` is false (a build's output in a source checkout is no edit)."""
    _, out, _ = run(["status", "--porcelain", *(["--ignored"] if ignored else []), "-uall"],
                    cwd=path)
    return [line[3:] for line in out.splitlines() if line]


def fetch(path: Path, url: str, auth: Auth, what: str, depth: int | None = 1,
          unshallow: bool = False) -> None:
    """Fetch `what` (a sha or a ref) from `url` into `path`'s FETCH_HEAD and FETCHED
    (so the next fetch brings only what is new)."""
    args = ["fetch", "-q", "--no-tags", "--no-recurse-submodules"]
    if depth:
        args.append(f"--depth={depth}")
    elif unshallow:
        args.append("--unshallow")
    run([*args, "--", url, f"+{what}:{FETCHED}"], cwd=path, auth=auth,
        timeout=NETWORK_TIMEOUT)


# Every fetch leaves its commit here: without a ref a repo offers the server nothing it
# has, and a fetch would bring the whole tree (or, without --depth, all history) again.
FETCHED = "refs/gitops-agent/fetched"


class MissingRef(GitError):
    """The remote has no such ref."""


def fetch_ref(path: Path, url: str, auth: Auth, ref: str, depth: int | None = 1,
              into: str | None = None) -> str:
    """Fetch the full ref `ref` (and its commit) into `path`; return its commit. Only that
    ref is asked for (protocol v2 ref-prefix), so the traffic does not grow with the
    remote's other refs; when the commit is already there no objects move. `into` also
    stores the ref locally. MissingRef when the remote has no such ref."""
    args = ["fetch", "-q", "--no-tags", "--no-recurse-submodules", "--no-auto-gc",
            *([f"--depth={depth}"] if depth else []), "--", url,
            f"+{ref}:{into}" if into else ref]
    status, _, err = run(args, cwd=path, auth=auth, timeout=NETWORK_TIMEOUT, check=False)
    if status != 0:
        if "couldn't find remote ref" in err:
            raise MissingRef(redact(f"{url} has no {ref}"))
        raise GitError(f"git fetch {ref} failed: {_reason(err, status)}")
    head_file = path / "FETCH_HEAD" if (path / "FETCH_HEAD").exists() else \
        path / ".git" / "FETCH_HEAD"
    sha = head_file.read_text(encoding="utf-8", errors="replace")[:40]
    if not FULL_SHA.match(sha):
        raise GitError(f"git fetch {ref} left no commit in FETCH_HEAD")
    return sha


def fetch_all(path: Path, url: str, auth: Auth) -> None:
    """Fetch every branch and tag with full history (to resolve a short sha)."""
    args = ["fetch", "-q", "--force", "--no-recurse-submodules"]
    if (path / ".git" / "shallow").exists():
        args.append("--unshallow")
    run([*args, "--", url, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
        cwd=path, auth=auth, timeout=NETWORK_TIMEOUT)


def resolve_short(path: Path, prefix: str) -> str | None:
    status, out, _ = run(["rev-parse", "-q", "--verify", f"{prefix}^{{commit}}"],
                         cwd=path, check=False)
    return out.strip() if status == 0 else None


def checkout(path: Path, sha: str) -> None:
    """Force the work tree to exactly `sha`: tracked edits, untracked and ignored files go."""
    run(["checkout", "-q", "-f", "--detach", sha], cwd=path)
    run(["clean", "-q", "-ffdx"], cwd=path)


class PushRejected(GitError):
    """The remote moved on (non-fast-forward): fetch, rebuild and try again."""


def push(path: Path, url: str, auth: Auth, branch: str, commit: str = "HEAD",
         lease: str | None = None) -> None:
    """Push `commit` to `branch` of `url`: a fast-forward, or with `lease` a replacement
    only if the branch is still at `lease`. PushRejected if it moved on."""
    ref = f"refs/heads/{branch}"
    status, out, err = run(
        ["push", "--porcelain", *([f"--force-with-lease={ref}:{lease}"] if lease else []),
         "--", url, f"{commit}:{ref}"],
        cwd=path, auth=auth, timeout=NETWORK_TIMEOUT, check=False)
    if status == 0:
        return
    text = out + err
    blocker = re.search(r"'(refs/heads/[^']+)' exists; cannot create", text)
    if blocker:
        raise GitError(f"status branch {branch} cannot be created: branch "
                       f"{blocker[1].removeprefix('refs/heads/')} exists beside it (git "
                       "cannot have both); delete that branch or set status.branch to a "
                       "name that does not nest under it")
    if any(sign in text for sign in ("[rejected]", "non-fast-forward", "fetch first",
                                     "but expected", "stale info", "cannot lock ref",
                                     "reference already exists",
                                     ".lock': File exists")):  # a race for the ref
        raise PushRejected(f"push to {branch} rejected: the branch moved on")
    raise GitError(f"git push to {redact(url)} failed: {_reason(err, status)}")
