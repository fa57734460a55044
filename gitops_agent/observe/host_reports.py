"""Every host's report, read from the status branches for `gitops-agent fleet`.

One fetch brings the tips of all status branches (a refspec per kind of branch, so
protocol v2 asks the remote only for those ref prefixes; depth 1) into a bare cache
repo; the reports are then read from git objects in a few `cat-file --batch` calls,
whatever the number of hosts. Nothing is checked out.

Reports are written by the hosts (anyone with push access to the status repo): a
per-host branch speaks only for its own host, sizes are checked before anything is
read, and the text is handed on as text: parsing it is the caller's (bounded) job.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from gitops_agent import git
from gitops_agent.config import StatusConfig
from gitops_agent.config.agent import DEFAULT_STATUS_BRANCH
from gitops_agent.config.yamlfile import MAX_BYTES
from gitops_agent.errors import GitError
from gitops_agent.git_reason import reason, redact

log = logging.getLogger(__name__)
HOST_START = re.compile(r"^[A-Za-z0-9_.-]*$")  # safe to put in a refspec
LOCAL = "refs/fleet/"  # where the cache keeps the fetched branches
MAX_TREE = 4 * 1024 * 1024  # a shared branch's hosts/ listing (~50,000 hosts)
CHUNK = 16 * 1024 * 1024  # report bytes read per cat-file call (memory stays bounded)
NARROW = 32  # branches one depth-1 fetch of their patterns brings without re-sending
CLEAN_AFTER = 5000  # loose objects, or packs / 100: then the cache is garbage-collected


@dataclass(frozen=True)
class Branches:
    """Which status branches hold reports: per-host ones, `<prefix><host><suffix>`
    (from status.branch, or the default when that is a fixed name), and the shared one."""

    prefix: str
    suffix: str
    shared: str | None = None

    @classmethod
    def of(cls, status: StatusConfig) -> Branches:
        template = status.pattern if "{host}" in status.pattern else DEFAULT_STATUS_BRANCH
        prefix, _, suffix = template.partition("{host}")
        return cls(prefix, suffix.replace("{host}", ""),
                   None if "{host}" in status.pattern else status.pattern)

    def refspecs(self, hosts: tuple[str, ...] | None = None) -> list[str]:
        """Every per-host branch, or only those of hosts a glob of `hosts` could match
        (by its literal start: protocol v2 then asks the remote for those names only)."""
        starts = {glob[:min((glob.index(c) for c in "*?[" if c in glob), default=len(glob))]
                  for glob in hosts or ("",)}
        if "" in starts or not all(HOST_START.match(start) for start in starts):
            starts = {""}
        patterns = sorted(f"{self.prefix}{start}*{self.suffix}" for start in starts)
        specs = [f"+refs/heads/{pattern}:{LOCAL}{pattern}" for pattern in patterns]
        if self.shared and not any(fnmatch.fnmatchcase(self.shared, pattern)
                                   for pattern in patterns):  # not fetched by the globs
            specs.append(f"+refs/heads/{self.shared}:{LOCAL}{self.shared}")
        return specs

    def host_of(self, branch: str) -> str | None:
        """The host a per-host branch belongs to; None for the shared branch."""
        return None if branch == self.shared else self._inner(branch)

    def _inner(self, branch: str) -> str | None:
        inner = branch[len(self.prefix):len(branch) - len(self.suffix)]
        matches = branch.startswith(self.prefix) and branch.endswith(self.suffix) and inner
        return inner if matches else None


@dataclass(frozen=True)
class Found:
    host: str  # the file's name: hosts/<host>.yml (checked by the caller)
    branch: str
    text: str | None  # None: unreadable, and `problem` says why (or known: see read)
    problem: str | None = None
    blob: str | None = None  # the report's object id


def fetch(repo: Path, url: str, auth: git.Auth, branches: Branches,
          hosts: tuple[str, ...] | None = None) -> None:
    """Bring every status branch's tip into the cache `repo` (made on first use); branches
    gone from the remote go from the cache too. GitError when the remote cannot be read.
    A corrupt cache is dropped and built again once; `fleet`'s lock is held, so lock
    files found in it are a killed git's and go."""
    if (repo / "HEAD").exists():
        git.unlock(repo)
    try:
        _fetch(repo, url, auth, branches, hosts)
    except GitError:
        if not (repo / "HEAD").exists() or git.run(["fsck", "--connectivity-only"],
                                                   cwd=repo, check=False)[0] == 0:
            raise
        log.warning("%s is corrupt: dropped and fetched again", repo)
        shutil.rmtree(repo, ignore_errors=True)
        _fetch(repo, url, auth, branches, hosts)
    _tidy(repo)


def _fetch(repo: Path, url: str, auth: git.Auth, branches: Branches,
           hosts: tuple[str, ...] | None) -> None:
    """A few branches: one depth-1 fetch of their patterns. Many (every status branch, or
    more than NARROW last time): list them, then fetch only those whose tip moved — a
    depth-1 fetch of many refs re-sends reports the cache already has (`--depth` turns
    off git's "I have all of these" shortcut, and negotiation gives up part-way)."""
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git.run(["init", "-q", "--bare", str(repo)])
    specs = branches.refspecs(hosts)
    sources = [spec[1:].partition(":")[0] for spec in specs]  # refs/heads/<pattern>

    def matches(ref: str) -> bool:
        return any(fnmatch.fnmatchcase(ref, source) for source in sources)

    cached = tips(repo)
    local = {branch: sha for branch, sha in cached.items() if matches(f"refs/heads/{branch}")}
    _forget(repo, [branch for branch in cached if branch not in local])  # an older scope's
    if hosts is None or len(local) > NARROW:
        try:
            listed = git.ls_remote(url, auth, heads=True)
        except GitError as error:
            raise GitError(redact(f"cannot read the status branches of {url}: {error}")) \
                from None
        remote = {ref.removeprefix("refs/heads/"): sha for ref, sha in listed.items()
                  if ref.startswith("refs/heads/") and matches(ref)}
        _forget(repo, [branch for branch in local if branch not in remote])
        specs = [f"+refs/heads/{branch}:{LOCAL}{branch}"
                 for branch, sha in sorted(remote.items()) if local.get(branch) != sha]
        if not specs:
            return
    args = ["fetch", "-q", "--no-tags", "--no-recurse-submodules", "--no-auto-gc", "--prune",
            "--depth=1", "--stdin", "--", url]
    status, _, err = git.run(args, cwd=repo, auth=auth, timeout=git.NETWORK_TIMEOUT,
                             check=False, stdin="\n".join(specs) + "\n")
    if status != 0 and branches.shared and "couldn't find remote ref" in err:
        # the shared branch does not exist (yet): the per-host ones are still read
        _forget(repo, [branches.shared])
        specs = [spec for spec in specs if not spec.endswith(f":{LOCAL}{branches.shared}")]
        status, _, err = git.run(args, cwd=repo, auth=auth, timeout=git.NETWORK_TIMEOUT,
                                 check=False, stdin="\n".join(specs) + "\n")
    if status != 0 and not err.strip():  # with --depth, git fails silently on no match
        _forget(repo, list(local))
        return
    if status != 0:
        message = f"cannot read the status branches of {url}: {reason(err, status)}"
        raise GitError(redact(message))  # a token in an https URL stays out of CI logs


def _forget(repo: Path, branches: list[str]) -> None:
    """Drop branches the remote no longer has from the cache."""
    if branches:
        git.run(["update-ref", "--stdin"], cwd=repo,
                stdin="".join(f"delete {LOCAL}{branch}\n" for branch in branches))


def _tidy(repo: Path) -> None:
    """Each fetch leaves the previous tips behind: collect them now and then."""
    _, out, _ = git.run(["count-objects", "-v"], cwd=repo)
    counts = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    if int(counts.get("count", 0)) > CLEAN_AFTER or int(counts.get("packs", 0)) > 100:
        status, _, err = git.run(["gc", "-q", "--prune=now"], cwd=repo, check=False,
                                 timeout=git.NETWORK_TIMEOUT)
        if status != 0:
            log.warning("could not clean %s: %s", repo, reason(err, status))


def tips(repo: Path) -> dict[str, str]:
    """{branch: commit} of every status branch in the cache."""
    _, out, _ = git.run(["for-each-ref", "--format=%(objectname) %(refname)", LOCAL], cwd=repo)
    found = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        found[ref.removeprefix(LOCAL)] = sha
    return found


def _check(repo: Path, names: list[str]) -> list[tuple[str, str, int] | None]:
    """(object id, type, size) of each name (`<commit>:<path>` or an id); None: missing."""
    if not names:
        return []
    _, out, _ = git.run(["cat-file", "--batch-check"], cwd=repo, stdin="\n".join(names) + "\n")
    results: list[tuple[str, str, int] | None] = []
    for line in out.splitlines():
        words = line.split(" ")
        ok = len(words) == 3 and words[2].isdigit()
        results.append((words[0], words[1], int(words[2])) if ok else None)
    return results


def _contents(repo: Path, ids: list[str]) -> dict[str, bytes]:
    """The content of each object id (sizes already checked: they are bounded)."""
    if not ids:
        return {}
    _, out, _ = git.run(["cat-file", "--batch"], cwd=repo, stdin="\n".join(ids) + "\n")
    data = out.encode("utf-8", "surrogateescape")
    found, position = {}, 0
    while position < len(data):
        end = data.index(b"\n", position)
        header = data[position:end].decode("ascii", "replace").split(" ")
        position = end + 1
        if len(header) == 3 and header[2].isdigit():
            size = int(header[2])
            found[header[0]] = data[position:position + size]
            position += size + 1
    return found


def _tree_files(tree: bytes, id_bytes: int) -> Iterator[tuple[str, str]]:
    """(name, object id) of the files of a raw tree object."""
    position = 0
    while position < len(tree):
        space = tree.index(b" ", position)
        end = tree.index(b"\0", space)
        mode, name = tree[position:space], tree[space + 1:end]
        object_id = tree[end + 1:end + 1 + id_bytes].hex()
        position = end + 1 + id_bytes
        if mode.startswith(b"100"):
            yield name.decode("utf-8", "replace"), object_id


def _wanted(repo: Path, branches: Branches, heads: dict[str, str]
            ) -> Iterator[tuple[str, str, str]]:
    """(host, branch, name to look up) of every report file: a per-host branch's own
    hosts/<host>.yml, and each hosts/*.yml of the shared branch."""
    for branch, sha in sorted(heads.items()):
        host = branches.host_of(branch)
        if host is not None:
            yield host, branch, f"{sha}:hosts/{host}.yml"
            continue
        listing = _check(repo, [f"{sha}:hosts"])[0]
        if listing is None or listing[1] != "tree" or listing[2] > MAX_TREE:
            yield "", branch, f"{sha}:hosts"  # reported as unreadable below
            continue
        tree = _contents(repo, [listing[0]]).get(listing[0], b"")
        for name, object_id in _tree_files(tree, len(sha) // 2):
            if name.endswith(".yml"):
                yield name.removesuffix(".yml"), branch, object_id


def read(repo: Path, branches: Branches, known: Collection[str] = ()) -> Iterator[Found]:
    """Every report in the cache, as text; unreadable ones say why. A report whose object
    id is in `known` (the caller has it already) comes with neither text nor problem."""
    wanted = list(_wanted(repo, branches, tips(repo)))
    checked = _check(repo, [name for _, _, name in wanted])
    batch: list[tuple[str, str, str]] = []
    size = 0
    for (host, branch, _), info in zip(wanted, checked, strict=True):
        path = f"hosts/{host}.yml" if host else "hosts/"
        if info is None or info[1] != ("blob" if host else "tree"):
            yield Found(host, branch, None, f"no {path}" if info is None else
                        f"{path} is not a {'file' if host else 'directory'}")
        elif not host:
            yield Found(host, branch, None, f"{path} is over {MAX_TREE // 1024} KiB")
        elif info[2] > MAX_BYTES:
            yield Found(host, branch, None, f"{path} is over {MAX_BYTES // 1024} KiB")
        elif info[0] in known:
            yield Found(host, branch, None, None, info[0])
        else:
            if size + info[2] > CHUNK:
                yield from _texts(repo, batch)
                batch, size = [], 0
            batch.append((host, branch, info[0]))
            size += info[2]
    yield from _texts(repo, batch)


def _texts(repo: Path, batch: list[tuple[str, str, str]]) -> Iterator[Found]:
    contents = _contents(repo, sorted({object_id for _, _, object_id in batch}))
    for host, branch, object_id in batch:
        try:
            yield Found(host, branch, contents[object_id].decode("utf-8"), None, object_id)
        except (KeyError, UnicodeDecodeError):
            yield Found(host, branch, None, f"hosts/{host}.yml is not UTF-8 text")
