"""config.urls.validate_url: the URL forms the agent accepts and the ones it refuses."""

from __future__ import annotations

import pytest

from gitops_agent.config.urls import validate_url
from gitops_agent.errors import EXIT_BAD_CONFIG, ConfigError


@pytest.mark.parametrize("url", [
    "git@git.example.com:ops/fleet.git",
    "git@git.example.com:~ops/fleet.git",
    "git.example.com:ops/fleet.git",
    "deploy_bot-1@10.0.0.5:fleet.git",
    "ssh://git@git.example.com/ops/fleet.git",
    "ssh://git@git.example.com:2222/ops/fleet.git",
    "SSH://git@git.example.com/ops/fleet.git",
    "git+ssh://git@git.example.com/ops/fleet.git",
    "ssh+git://git@git.example.com/ops/fleet.git",
    "https://git.example.com/ops/fleet.git",
    "https://token@git.example.com/ops/fleet.git",
    "file:///srv/git/fleet.git",
    "/srv/git/fleet.git",
    "./fleet.git",
    "../repos/fleet.git",
    "~/repos/fleet.git",
])
def test_validate_url_ordinary_git_url_is_accepted(url):
    assert validate_url(url) is None


@pytest.mark.parametrize("url", [
    "",
    "-upload-pack=touch /tmp/pwned",
    "--upload-pack=x",
    "-oProxyCommand=x:repo",
    "ext::sh -c touch% /tmp/pwned",
    "ext::sh",
    "fd::17",
    "transport::address",
    "/srv/$(id)/fleet.git",
    "/srv/${HOME}/fleet.git",
    "/srv/`id`/fleet.git",
    "/srv/git/fleet.git\n--upload-pack=x",
    "/srv/git/fleet.git\r",
    "/srv/git/fl\teet.git",
    "/srv/git/my fleet.git",
    "/srv/git/fleet.git\0--upload-pack=x",  # a NUL crashed the whole pass
    "/srv/git/fleet\x1b[2J.git",
])
def test_validate_url_tricky_url_is_refused(url):
    with pytest.raises(ConfigError) as caught:
        validate_url(url)

    assert caught.value.exit_code == EXIT_BAD_CONFIG
    assert str(caught.value).startswith(f"refusing git URL {url!r}: ")


@pytest.mark.parametrize(("url", "scheme"), [
    ("http://git.example.com/ops/fleet.git", "http"),
    ("git://git.example.com/ops/fleet.git", "git"),
    ("ftp://git.example.com/ops/fleet.git", "ftp"),
    ("rsync://git.example.com/ops/fleet.git", "rsync"),
    ("HTTP://git.example.com/ops/fleet.git", "http"),
])
def test_validate_url_other_transport_is_refused_by_name(url, scheme):
    with pytest.raises(ConfigError, match=f"the {scheme} transport is not allowed"):
        validate_url(url)


@pytest.mark.parametrize("url", ["fleet.git", "repos/fleet"])
def test_validate_url_bare_relative_path_is_refused(url):
    with pytest.raises(ConfigError, match="must be an ssh, https, file URL or a path"):
        validate_url(url)


@pytest.mark.parametrize("url", ["git@git.example.com:/srv/git/fleet.git",
                                 "git.example.com:/srv/git/fleet.git"])
def test_validate_url_scp_like_with_absolute_path_is_accepted(url):
    assert validate_url(url) is None


def test_validate_url_ssh_host_starting_with_dash_is_refused():
    with pytest.raises(ConfigError):
        validate_url("ssh://-oProxyCommand=touch%20x/repo.git")


A, B, C = "a" * 40, "b" * 40, "c" * 40


@pytest.mark.parametrize(("ref", "expected"), [
    ("v1", A),  # a tag wins over a branch of the same name
    ("main", C),
    ("refs/heads/v1", B),  # unless the branch is named in full
    ("refs/tags/v1", A),
    ("abc1234", None),  # 7-39 hex: an abbreviated commit, never the branch "abc1234"
    ("refs/heads/abc1234", C),
    ("abc12", B),  # too short to be a commit: a name
    (A, A),
    ("nope", None),
])
def test_resolve_ref_follows_the_spec_rules(ref, expected):
    from gitops_agent.observe.remotes import resolve_ref

    refs = {"refs/heads/v1": B, "refs/tags/v1": "d" * 40, "refs/tags/v1^{}": A,
            "refs/heads/main": C, "refs/heads/abc1234": C, "refs/heads/abc12": B}

    assert resolve_ref(refs, ref) == expected
