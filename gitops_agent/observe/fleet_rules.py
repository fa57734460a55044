"""fleet.yml at the config branch's head, for `gitops-agent fleet` (SPEC §4b, §6).

The head commit is fetched with depth 1 into the fleet cache under a ref of its own
(outside the status branches' namespace, so their `--prune` leaves it alone), and
fleet.yml is read from git objects: its tree entry first (a regular file, within the
YAML size bound), then its text. Nothing is checked out; the rules are validated as a
host validates them before it applies the commit.
"""

from __future__ import annotations

from pathlib import Path

from gitops_agent import git
from gitops_agent.config import RepoConfig
from gitops_agent.config.fleet import FILE, Rules, rules_from_text
from gitops_agent.config.yamlfile import MAX_BYTES
from gitops_agent.errors import ConfigError, GitError
from gitops_agent.git_reason import redact

REF = "refs/fleet-config/head"
REGULAR = ("100644", "100755")


def read(repo: Path, settings: RepoConfig, auth: git.Auth) -> tuple[str, Rules | None]:
    """(the config branch's head commit, its rules); the rules are None without fleet.yml.
    GitError when the branch cannot be read, ConfigError when fleet.yml is invalid (the
    message names the commit and the first problem, and how many more there are)."""
    try:
        commit = git.fetch_ref(repo, settings.url, auth, f"refs/heads/{settings.branch}",
                               depth=1, into=REF)
    except git.MissingRef:
        raise GitError(redact(f"the config repo {settings.url} has no branch "
                              f"{settings.branch!r}")) from None
    except GitError as error:
        raise GitError(redact(f"cannot read the config repo {settings.url}: {error}")) \
            from None
    _, listing, _ = git.run(["ls-tree", "-l", commit, "--", FILE], cwd=repo)
    if not listing.strip():
        return commit, None
    where = f"{FILE} at {commit[:12]}"
    words = listing.partition("\t")[0].split()
    if len(words) != 4 or words[0] not in REGULAR or words[1] != "blob":
        raise ConfigError(f"{where} is invalid: it is not a regular file")
    if not words[3].isdigit() or int(words[3]) > MAX_BYTES:
        raise ConfigError(f"{where} is invalid: it is over {MAX_BYTES // 1024} KiB")
    _, raw, _ = git.run(["cat-file", "blob", words[2]], cwd=repo)
    try:
        text = raw.encode("utf-8", "surrogateescape").decode("utf-8")
        return commit, rules_from_text(text, FILE)
    except UnicodeError:
        raise ConfigError(f"{where} is invalid: it is not UTF-8 text") from None
    except ConfigError as error:
        more = len(error.problems) - 1
        raise ConfigError(f"{where} is invalid: {error}"
                          + (f" (and {more} more problem(s))" if more > 0 else ""),
                          error.problems) from None
