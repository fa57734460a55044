"""The metrics textfile and webhook notifications, through the real CLI and real repos."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import FAILING_PLAYBOOK as FAILING
from tests.helpers import cli, temporary_files
from tests.integration.test_watch import daemon, wait_for
from tests.webhook_server import Webhook

PASSING = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Start billing
      ansible.builtin.debug:
        msg: billing is up
"""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The textfile as prometheus_client's parser reads it."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(path.read_text())
            for sample in family.samples}


def app_state(found: dict[Any, float], app: str) -> list[str]:
    return [dict(labels)["state"] for (name, labels), value in found.items()
            if name == "gitops_agent_app_state" and dict(labels)["app"] == app and value == 1]


def outbox(world: Any) -> list[dict[str, Any]]:
    return json.loads((world.state_dir / "notify.json").read_text())["outbox"]


def test_metrics_textfile_has_app_states_and_is_replaced_atomically(world, tmp_path):
    textfile = tmp_path / "textfile" / "gitops-agent.prom"
    textfile.parent.mkdir()
    world.configure(metrics={"textfile": str(textfile)})
    world.config_repo.write("playbooks/failing.yml", FAILING)
    world.app("billing", "playbook: playbooks/failing.yml\n").app("web")
    commit = world.config_repo.commit()
    started = time.time()

    first = cli("run", config=world.config_path)

    assert first.returncode == 1, first.stderr
    found = metrics(textfile)
    assert app_state(found, "billing") == ["failed"] and app_state(found, "web") == ["applied"]
    assert len([key for key in found if key[0] == "gitops_agent_app_state"]) == 2 * 9
    assert started - 1 <= found[("gitops_agent_last_pass_timestamp_seconds", ())] <= time.time()
    assert 0 < found[("gitops_agent_pass_duration_seconds", ())] < time.time() - started
    web_success = found[("gitops_agent_app_last_success_timestamp_seconds", (("app", "web"),))]
    assert started - 1 <= web_success <= time.time()
    assert ("gitops_agent_app_last_success_timestamp_seconds", (("app", "billing"),)) \
        not in found
    assert found[("gitops_agent_apps", (("state", "failed"),))] == 1
    assert found[("gitops_agent_pass_error", ())] == 0
    assert found[("gitops_agent_report_pushed", ())] == 1
    info = [dict(labels) for name, labels in found if name == "gitops_agent_info"]
    assert info == [{"version": "0.1.0", "host": "web-01", "config_commit": commit}]
    assert oct(textfile.stat().st_mode & 0o777) == "0o644"
    inode = textfile.stat().st_ino

    world.config_repo.write("playbooks/failing.yml", PASSING).commit()
    second = cli("run", config=world.config_path)

    assert second.returncode == 0, second.stderr
    found = metrics(textfile)
    assert app_state(found, "billing") == ["applied"] and app_state(found, "web") == ["unchanged"]
    assert found[("gitops_agent_app_last_success_timestamp_seconds", (("app", "web"),))] == \
        web_success  # kept while unchanged
    assert ("gitops_agent_app_last_success_timestamp_seconds", (("app", "billing"),)) in found
    assert textfile.stat().st_ino != inode  # a new file renamed over the old one
    assert sorted(path.name for path in textfile.parent.iterdir()) == ["gitops-agent.prom"]
    assert temporary_files(world.state_dir) == []


def test_metrics_written_when_the_config_repo_is_unreachable_not_in_check_mode(world, tmp_path):
    textfile = tmp_path / "gitops-agent.prom"
    world.configure(metrics={"textfile": str(textfile)})
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    textfile.unlink()

    check = cli("run-playbook", "web", "--check", config=world.config_path)
    assert check.returncode == 0, check.stderr
    assert not textfile.exists()  # check mode writes no metrics

    shutil.move(world.config_repo.bare, tmp_path / "away.git")
    failed = cli("run", config=world.config_path)

    assert failed.returncode != 0
    found = metrics(textfile)
    assert found[("gitops_agent_pass_error", ())] == 1
    assert app_state(found, "web") == ["applied"]  # the last result, kept


def test_metrics_unwritable_textfile_is_one_warning_and_never_fails_the_pass(world, tmp_path):
    (tmp_path / "not-a-dir").write_text("")
    world.configure(metrics={"textfile": str(tmp_path / "not-a-dir" / "gitops-agent.prom")})
    world.app("web").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "metrics" in line]
    assert len(lines) == 1 and "WARNING" in lines[0] and "not written" in lines[0]
    assert "Traceback" not in done.stderr


def test_notify_one_message_per_change_across_passes_with_on_filter(world, webhook):
    world.configure(notify=[{"url": webhook.url("/all"), "timeout": 2},
                            {"url": webhook.url("/recovered"), "on": ["recovered"]},
                            {"url": webhook.url("/drift"), "on": ["drifted"]}])
    world.config_repo.write("playbooks/billing.yml", FAILING)
    world.app("billing", "playbook: playbooks/billing.yml\n").app("web")
    commit = world.config_repo.commit()

    assert cli("run", config=world.config_path).returncode == 1
    assert webhook.events() == [("billing", "failed")]
    path, body = webhook.received[0]
    assert path == "/all"
    assert body["text"] == (f":red_circle: web-01: app billing failed at {commit[:12]}: "
                            "Restart billing: billing did not come up")
    assert body["host"] == "web-01" and body["state"] == "failed" and body["previous"] is None
    assert body["config_commit"] == commit and body["source_commit"] is None
    assert body["run_id"] and body["agent_version"] == "0.1.0" and body["at"].endswith("Z")
    assert body["failed_tasks"] == [{"task": "Restart billing", "module": "ansible.builtin.fail",
                                     "msg": "billing did not come up"}]

    again = cli("run", config=world.config_path)  # applied again, fails again: no message
    assert again.returncode == 1 and "billing" in again.stdout
    assert webhook.events() == [("billing", "failed")]

    world.config_repo.write("playbooks/billing.yml", PASSING).commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert cli("run", config=world.config_path).returncode == 0  # unchanged: no message

    assert webhook.events("/all") == [("billing", "failed"), ("billing", "recovered")]
    assert webhook.events("/recovered") == [("billing", "recovered")]
    assert webhook.events("/drift") == []
    recovered = webhook.received[-1][1]
    assert recovered["previous"] == "failed" and recovered["state"] == "applied"
    assert recovered["text"].startswith(":white_check_mark: web-01: app billing recovered")
    assert outbox(world) == []


def test_watch_passes_write_metrics_and_notify_each_change_once(world, webhook, tmp_path):
    textfile = tmp_path / "gitops-agent.prom"
    world.configure(interval=1, metrics={"textfile": str(textfile)},
                    notify=[{"url": webhook.url("/hook"), "timeout": 2}])
    world.config_repo.write("playbooks/billing.yml", FAILING)
    world.app("billing", "playbook: playbooks/billing.yml\n").config_repo.commit()

    with daemon(world) as running:
        wait_for(lambda: textfile.exists() and app_state(metrics(textfile), "billing")
                 == ["failed"], what="a failed pass in the textfile")
        wait_for(lambda: webhook.events(), what="the failed notification")
        before = metrics(textfile)[("gitops_agent_last_pass_timestamp_seconds", ())]
        wait_for(lambda: metrics(textfile)[("gitops_agent_last_pass_timestamp_seconds", ())]
                 > before, what="another failed pass")
        world.config_repo.write("playbooks/billing.yml", PASSING).commit()
        wait_for(lambda: app_state(metrics(textfile), "billing") == ["applied"],
                 what="the applied pass in the textfile")
        wait_for(lambda: len(webhook.events()) == 2, what="the recovered notification")
        assert running.stop() == 0

    assert webhook.events() == [("billing", "failed"), ("billing", "recovered")]
    assert "Traceback" not in running.log


def test_notify_hanging_webhook_does_not_hold_the_pass_and_is_retried(world, webhook, tmp_path):
    textfile = tmp_path / "gitops-agent.prom"
    world.configure(metrics={"textfile": str(textfile)})
    world.config_repo.write("playbooks/billing.yml", FAILING)
    world.app("billing", "playbook: playbooks/billing.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 1

    world.configure(metrics={"textfile": str(textfile)},
                    notify=[{"url": webhook.url("/hook"), "timeout": 2}])
    webhook.hang.set()
    hung = cli("run", config=world.config_path)
    exited = time.time()

    assert hung.returncode == 1
    ended = metrics(textfile)[("gitops_agent_last_pass_timestamp_seconds", ())]
    assert exited - ended < 2 * 2 + 3  # after the pass, at most 2 x timeout for the sends
    assert webhook.raw and webhook.received == []
    assert "not delivered" in hung.stderr and "127.0.0.1" in hung.stderr
    assert "/hook" not in hung.stderr  # the URL's path (its token) is never logged
    assert [item["payload"]["event"] for item in outbox(world)] == ["failed"]

    webhook.hang.clear()
    assert cli("run", config=world.config_path).returncode == 1  # still failed: no new change

    assert webhook.events() == [("billing", "failed")]
    assert outbox(world) == []


def test_notify_no_log_secret_never_reaches_the_webhook(world, webhook):
    secret = "SENTINEL-SECRET-31337"
    world.configure(notify=[{"url": webhook.url("/hook")}])
    world.config_repo.write("playbooks/secret.yml", """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Use the password
      ansible.builtin.command: sh -c 'echo {{ db_password }}; echo {{ db_password }} >&2; exit 1'
      no_log: true
""")
    world.app("secretive", "playbook: playbooks/secret.yml\n"
                           f"vars: {{db_password: {secret}}}\n").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    assert webhook.events() == [("secretive", "failed")]
    assert webhook.received[0][1]["failed_tasks"][0]["msg"] == "output hidden by no_log"
    assert all(secret.encode() not in body for body in webhook.raw)
    assert secret not in (world.state_dir / "notify.json").read_text()
    assert secret not in done.stdout + done.stderr
