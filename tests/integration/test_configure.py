"""`gitops-agent configure` / `--configure`: edit in $EDITOR, saved only when valid."""

from __future__ import annotations

import stat

import yaml

from tests.helpers import cli


def editor(tmp_path, script: str) -> dict[str, str]:
    path = tmp_path / "editor.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return {"EDITOR": str(path), "VISUAL": str(path)}


def test_configure_saves_a_valid_edit_with_mode_0600(world, tmp_path):
    done = cli("configure", config=world.config_path,
               env=editor(tmp_path, 'echo "interval: 17" >> "$1"'))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(world.config_path.read_text())["interval"] == 17
    assert stat.S_IMODE(world.config_path.stat().st_mode) == 0o600


def test_configure_refuses_an_invalid_edit_and_keeps_the_file(world, tmp_path):
    before = world.config_path.read_text()
    done = cli("--configure", config=world.config_path,
               env=editor(tmp_path, 'echo "intervl: 5" >> "$1"'))
    assert done.returncode == 2
    assert f"{world.config_path}:" in done.stderr and "intervl: unknown key" in done.stderr
    assert "left unchanged" in done.stderr
    assert world.config_path.read_text() == before
    assert [path.name for path in world.config_path.parent.glob(".agent.yml.edit-*")] == []


def test_configure_without_a_config_starts_from_the_commented_template(tmp_path):
    target = tmp_path / "etc" / "config.yml"
    done = cli("configure", config=target, env=editor(
        tmp_path, "sed -i 's#@CONFIG_URL@#/srv/fleet.git#' \"$1\""))
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert "# Seconds between passes of the daemon" in text
    assert yaml.safe_load(text)["config_repo"]["url"] == "/srv/fleet.git"


def test_configure_unchanged_says_so(world, tmp_path):
    done = cli("configure", config=world.config_path, env=editor(tmp_path, "true"))
    assert done.returncode == 0 and "nothing changed: not saved" in done.stdout
