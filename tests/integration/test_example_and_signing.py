"""The shipped example config repo works as the README says; signed-commit verification."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.helpers import cli, git, report, runs, state


def _signing_key(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", str(key)],
                   check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ops@example.test {(tmp_path / 'signing_key.pub').read_text()}")
    return key, allowed


def test_verify_signed_config_commits_apply_and_unsigned_are_blocked(world, tmp_path):
    key, allowed = _signing_key(tmp_path)
    world.configure(config_repo={"verify": {"allowed_signers": str(allowed)}})
    repo = world.config_repo
    world.app("web")
    git("add", "-A", cwd=repo.work)
    git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S",
        "-m", "signed", cwd=repo.work)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo.work)
    signed = git("rev-parse", "HEAD", cwd=repo.work)

    good = cli("run", config=world.config_path)
    assert good.returncode == 0, good.stderr
    assert state(world.state_dir)["apps"]["web"]["config_commit"] == signed

    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: unsigned}\n")
    repo.commit("not signed")
    bad = cli("run", config=world.config_path)

    assert bad.returncode == 1
    assert "failed signature verification" in bad.stderr
    assert git("rev-parse", "HEAD", cwd=world.state_dir / "repos" / "config") == signed
    assert '"unsigned"' not in (world.out / "web.json").read_text()
    web = report(repo)["apps"]["web"]
    assert web["state"] == "blocked" and "not signed by an allowed key" in web["message"]
    assert state(world.state_dir)["apps"]["web"]["state"] == "blocked"

    # The next signed commit changes nothing web read: web is not run again.
    runs_before = runs(world.state_dir, "web")
    world.app("web")
    repo.write("README.md", "notes\n")
    git("add", "-A", cwd=repo.work)
    git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S",
        "-m", "signed again", cwd=repo.work)
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo.work)
    healed = cli("run", config=world.config_path)

    assert healed.returncode == 0, healed.stderr
    assert runs(world.state_dir, "web") == runs_before
    assert report(repo)["apps"]["web"]["state"] == "unchanged"


def _signed_commit(repo, key: Path, message: str) -> str:
    git("add", "-A", cwd=repo.work)
    git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S",
        "--allow-empty", "-m", message, cwd=repo.work)
    git("push", "-q", "-f", "origin", "HEAD:refs/heads/main", cwd=repo.work)
    return git("rev-parse", "HEAD", cwd=repo.work)


def test_verify_refuses_an_old_signed_commit_until_allow_rewind(world, tmp_path):
    key, allowed = _signing_key(tmp_path)
    world.configure(config_repo={"verify": {"allowed_signers": str(allowed)}})
    repo = world.config_repo
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: old}\n")
    old = _signed_commit(repo, key, "old, signed")
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: new}\n")
    new = _signed_commit(repo, key, "new, signed")
    assert cli("run", config=world.config_path).returncode == 0
    git("reset", "-q", "--hard", old, cwd=repo.work)
    git("push", "-q", "-f", "origin", "HEAD:refs/heads/main", cwd=repo.work)  # a rollback

    refused = cli("run", config=world.config_path)

    assert refused.returncode == 1
    assert "does not descend from the last applied commit" in refused.stderr
    web = report(repo)["apps"]["web"]
    assert web["state"] == "blocked" and "does not descend" in web["message"]
    assert state(world.state_dir)["config_commit"] == new
    assert '"new"' in (world.out / "web.json").read_text()

    allowed_once = cli("run", "--allow-rewind", config=world.config_path)

    assert allowed_once.returncode == 0, allowed_once.stderr
    assert "--allow-rewind says so" in allowed_once.stderr
    assert '"old"' in (world.out / "web.json").read_text()
    assert state(world.state_dir)["config_commit"] == old


def test_verify_refuses_a_backdated_commit_by_a_retired_key(world, tmp_path):
    key, allowed = _signing_key(tmp_path)
    retired = allowed.read_text().replace("ops@example.test ",
                                          'ops@example.test valid-before="20200101" ', 1)
    allowed.write_text(retired)
    world.configure(config_repo={"verify": {"allowed_signers": str(allowed)}})
    repo = world.config_repo
    world.app("web")
    git("add", "-A", cwd=repo.work)
    subprocess.run(["git", "-c", "user.name=Ops", "-c", "user.email=ops@example.test",
                    "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q",
                    "-S", "-m", "backdated into the key's old window"], cwd=repo.work,
                   check=True, env={**os.environ, "GIT_COMMITTER_DATE": "2019-06-01T00:00:00Z",
                                    "GIT_AUTHOR_DATE": "2019-06-01T00:00:00Z"})
    git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=repo.work)
    assert subprocess.run(["git", "-c", "gpg.format=ssh", "-c",
                           f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD"],
                          cwd=repo.work, capture_output=True).returncode == 0  # git alone: ok

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    assert "not allowed now" in done.stderr
    assert not (world.out / "web.json").exists()


def test_verify_keeps_the_whole_history_across_no_op_passes(world, tmp_path):
    """Ancestry needs the history: a pass's question to the config repo must not make
    the checkout shallow again (a depth-1 fetch would), nor fetch it all again."""
    key, allowed = _signing_key(tmp_path)
    world.configure(config_repo={"verify": {"allowed_signers": str(allowed)}})
    world.app("web")
    first = _signed_commit(world.config_repo, key, "one")
    assert cli("run", config=world.config_path).returncode == 0
    second = _signed_commit(world.config_repo.write("README.md", "x\n"), key, "two")
    checkout = world.state_dir / "repos" / "config"

    assert cli("run", config=world.config_path).returncode == 0
    no_op = cli("--debug", "run", config=world.config_path)

    assert no_op.returncode == 0, no_op.stderr
    fetches = [line for line in no_op.stderr.splitlines() if "DEBUG git fetch" in line]
    assert len(fetches) == 1 and "--depth" not in fetches[0], fetches  # no re-unshallow
    assert not (checkout / ".git" / "shallow").exists()
    assert git("-C", str(checkout), "rev-list", "--count", "HEAD") == "2"
    assert git("-C", str(checkout), "rev-parse", "HEAD") == second != first


def test_the_readme_example_command_runs_to_its_end(tmp_path):
    """README's first command: the example config repo validates, the first pass applies
    every app, the second settles (nothing runs), and the pushed report says so."""
    root = Path(__file__).resolve().parents[2]
    work = tmp_path / "example"
    done = subprocess.run(["scripts/example"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "GITOPS_EXAMPLE_DIR": str(work)},
                          timeout=600, stdin=subprocess.DEVNULL, check=False)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report_text = done.stdout.split("status branch, gitops-status/example-host", 1)[1]
    for app in ("api", "motd", "website"):
        assert f"| {app} | **unchanged** |" in report_text
    assert cli("validate", str(work / "fleet")).returncode == 0
    pushed = yaml.safe_load(git("--git-dir", str(work / "fleet.git"), "show",
                                "gitops-status/example-host:hosts/example-host.yml"))
    assert pushed["summary"]["unchanged"] == 3
    source_commit = git("--git-dir", str(work / "website.git"), "rev-parse", "HEAD")
    assert (work / "srv/website/htdocs/index.html").exists()
    assert not (work / "srv/website/htdocs/.git").exists()
    assert (work / "srv/website/reloaded-at-commit").read_text().strip() == source_commit
    assert "managed by gitops-agent" in (work / "motd").read_text()
    assert (work / "srv/api/index.html").exists()
    assert not (work / "srv/api/.git").exists()
    assert "listen = 127.0.0.1:9090" in (work / "srv/api-config/api.conf").read_text()
    assert len((work / "srv/api-restarts.log").read_text().splitlines()) == 1
