"""Tools for the config repo itself: init, import-legacy, validate --host/--label."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.helpers import Remote, cli, report

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy" / "infra_meta.toml"


def test_init_scaffolds_a_repo_that_validates_and_applies(world, tmp_path):
    target = tmp_path / "fleet"
    done = cli("init", str(target))
    assert done.returncode == 0, done.stderr
    assert (target / "apps" / "hello.yml").exists() and (target / "README.md").exists()
    assert cli("validate", str(target)).returncode == 0

    fleet = Remote(tmp_path, "scaffolded")
    shutil.copytree(target, fleet.work, dirs_exist_ok=True)
    fleet.write("host_vars/web-01.yml", f"hello_path: {tmp_path}/hello.txt\n").commit()
    world.configure(config_repo={"url": fleet.url})
    run = cli("run", config=world.config_path)
    assert run.returncode == 0, run.stderr
    assert "Hello from gitops-agent (hello on web-01)" in (tmp_path / "hello.txt").read_text()
    assert report(fleet)["apps"]["hello"]["state"] == "applied"


def test_init_refuses_a_repo_with_apps(tmp_path):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "x.yml").write_text("playbook: p.yml\n")
    done = cli("init", str(tmp_path))
    assert done.returncode == 2 and "not overwriting" in done.stderr
    assert (tmp_path / "apps" / "x.yml").read_text() == "playbook: p.yml\n"


def test_import_legacy_maps_apps_and_says_what_it_could_not(tmp_path):
    done = cli("import-legacy", str(LEGACY), "--out", str(tmp_path))

    assert done.returncode == 0, done.stderr
    billing = yaml.safe_load((tmp_path / "apps" / "billing_api.yml").read_text())
    assert billing == {
        "source": {"url": "https://git.example.com/dev/billing.git", "ref": "3f2c9ab"},
        "deploy": {"dest": "/opt/billing",
                   "files": [{"src": "billing/config.toml", "dest": "/opt/billing/config.toml"},
                             {"src": "billing/env", "dest": "/etc/default/billing"}],
                   "commands": ["systemctl restart billing"]},
    }
    web = yaml.safe_load((tmp_path / "apps" / "web.yml").read_text())
    assert web["source"] == {"url": "git@git.example.com:dev/web.git", "ref": "main"}
    assert web["deploy"]["commands"] == ["systemctl reload nginx"]
    out = done.stdout
    assert "renamed 'Billing_API' to 'billing_api'" in out
    assert "not mapped: pre_updation_command 'systemctl stop billing'" in out
    assert "not mapped: unknown key 'log_level'" in out
    assert "copy billing/config.toml into the config repo" in out

    again = cli("import-legacy", str(LEGACY), "--out", str(tmp_path))
    assert again.returncode == 2 and "would overwrite" in again.stderr


def test_imported_apps_validate_once_their_files_are_in_the_repo(tmp_path):
    cli("import-legacy", str(LEGACY), "--out", str(tmp_path))
    for path in ("billing/config.toml", "billing/env"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x\n")
    done = cli("validate", str(tmp_path))
    assert done.returncode == 0, done.stderr


def test_import_legacy_bad_input_is_one_line(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[app\n")
    done = cli("import-legacy", str(broken), "--out", str(tmp_path))
    assert done.returncode == 2 and "invalid TOML" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_validate_shows_which_apps_example_hosts_get(world):
    world.app("everywhere")
    world.app("web-only", "hosts: ['web-*']\nplaybook: playbooks/record.yml\n")
    world.app("prod-db", "hosts: ['db-*']\nlabels: {env: prod}\nplaybook: playbooks/record.yml\n")
    done = cli("validate", str(world.config_repo.work), "--host", "web-01", "--host", "db-01",
               "--label", "env=prod")
    assert done.returncode == 0, done.stderr
    assert "web-01 (env=prod): everywhere, web-only" in done.stdout
    assert "db-01 (env=prod): everywhere, prod-db" in done.stdout
    bad = cli("validate", str(world.config_repo.work), "--label", "envprod")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_validate_checks_deploy_blocks(world):
    world.app("deployer", "deploy:\n  dest: relative/dir\n  files:\n"
              "    - {src: files/missing.conf, dest: /etc/x.conf}\n")
    done = cli("validate", str(world.config_repo.work))
    assert done.returncode == 2
    assert "deploy.dest: 'relative/dir' must be an absolute path" in done.stderr
    assert "deploy.files[0].src: 'files/missing.conf' does not exist" in done.stderr
