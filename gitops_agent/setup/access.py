"""Can the agent reach its config repo? `git ls-remote` through the agent's own git
environment (deploy key, pinned host keys, BatchMode) — and what access to grant where."""

from __future__ import annotations

from dataclasses import dataclass

from gitops_agent import git
from gitops_agent.config import AgentConfig
from gitops_agent.errors import FatalError, GitError
from gitops_agent.git_reason import redact
from gitops_agent.setup.known_hosts import ssh_target
from gitops_agent.setup.paths import Host


@dataclass(frozen=True)
class Access:
    ok: bool
    message: str  # one line for humans
    reached: bool = True  # the repo answered (it may still lack the branch)


def check(config: AgentConfig, host: Host) -> Access:
    """`git ls-remote` of the config repo as the agent runs it, and its branch there: what
    the first pass needs. The key and known_hosts are the ones under `host`'s root."""
    repo = config.config_repo
    auth = git.Auth(str(host.path(repo.ssh_key)) if repo.ssh_key else None,
                    str(host.path(repo.known_hosts)) if repo.known_hosts else None)
    shown = redact(repo.url)
    try:
        auth.check()
        heads = git.ls_remote(repo.url, auth, heads=True)
    except GitError as error:
        reason = str(error).split(" failed: ", 1)[-1]
        return Access(False, f"git ls-remote {shown} failed: {reason}", reached=False)
    except FatalError as error:  # a key or known_hosts that cannot be read
        return Access(False, f"git ls-remote {shown} cannot run: {error}", reached=False)
    commit = heads.get(f"refs/heads/{repo.branch}")
    if commit is None:
        return Access(False, f"git ls-remote {shown} works, but the repo has no branch "
                             f"{repo.branch} yet: push it")
    return Access(True, f"git ls-remote {shown} works: branch {repo.branch} is at "
                        f"{commit[:12]}")


def grants(config: AgentConfig) -> list[str]:
    """Where to register the deploy key, and with which access, for this config."""
    repo, status = config.config_repo, config.status
    config_url, status_url = redact(repo.url), redact(status.url)
    if not status.enabled:
        steps = [f"add this key as a read-only deploy key of {config_url} (status reports are "
                 "off: no write access needed)"]
    elif status.url == repo.url:
        steps = [f"add this key as a read-only deploy key of {config_url} (and write access "
                 f"for the status branch {status.branch}: status is pushed to it; a key that "
                 f"may write can push to any branch, so protect {repo.branch}, or push status "
                 "to another repo with status.url)"]
    else:
        steps = [f"add this key as a read-only deploy key of {config_url}",
                 f"and as a deploy key with write access of {status_url} (status is pushed "
                 f"to its branch {status.branch})"]
    return [*steps, "and as a read-only deploy key of every app repo (source.url in "
                    "apps/*.yml) reached over ssh"]


def uses_ssh(config: AgentConfig) -> bool:
    return any(ssh_target(url) for url in (config.config_repo.url, config.status.url))
