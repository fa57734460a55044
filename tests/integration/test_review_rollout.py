"""Review of the rollout feature (SPEC §4b): each test proves one defect with real agents on
a real config repo (the Fleet fixture of test_rollout.py). Each failed before its
fix."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import cli, put_playbook, report, state, write_config
from tests.integration.test_rollout import CANARY, HOSTS, PLAYBOOK, Fleet

GIT = ["git", "-c", "user.name=x", "-c", "user.email=x@x", "-c", "commit.gpgsign=false"]


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def push_report(fleet: Fleet, branch: str, path: str, text: str) -> None:
    """Put `text` at `path` as the only file of status branch `branch` (a forged, hand-made
    or corrupted report), from a scratch clone."""
    work = fleet.root / f"forge-{branch.replace('/', '_')}"
    subprocess.run([*GIT, "init", "-q", str(work)], check=True)
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    subprocess.run([*GIT, "-C", str(work), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(work), "commit", "-q", "-m", "report"], check=True)
    subprocess.run([*GIT, "-C", str(work), "push", "-q", "-f", fleet.repo.url,
                    f"HEAD:refs/heads/{branch}"], check=True)


# --- gate bypass ----------------------------------------------------------------------


def test_canary_run_with_app_does_not_release_apps_it_did_not_apply(fleet: Fleet) -> None:
    fleet.repo.write("playbooks/other.yml", PLAYBOOK.replace("{{ gitops_host }}.txt",
                                                             "{{ gitops_host }}-other.txt"))
    fleet.repo.write("apps/other.yml", "playbook: playbooks/other.yml\n"
                                       "vars: {version: other}\n")
    fleet.release("1", CANARY)
    for host in HOSTS:
        assert fleet.run(host).returncode == 0
    new = fleet.release("2")
    # the canary reconciles only `other` (unchanged): `site` v2 is not applied there
    scoped = fleet.run("web-01", "run", "--app", "other")
    assert scoped.returncode == 0, scoped.stderr
    assert fleet.version("web-01") == "1"
    assert report(fleet.repo, "web-01")["config_commit"] != new  # what the gate reads
    done = fleet.run("web-02")
    assert done.returncode == 0, done.stderr
    # no host has applied site v2, yet web-02 has been released for it
    assert fleet.version("web-02") == "1", "web-02 applied v2 before the canary did"
    assert fleet.app("web-02")["state"] == "waiting"


def test_canary_with_the_app_suspended_does_not_release_it(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    for host in HOSTS:
        assert fleet.run(host).returncode == 0
    suspended = fleet.run("web-01", "suspend", "site", "--reason", "debugging on the canary")
    assert suspended.returncode == 0, suspended.stderr
    fleet.release("2")
    assert fleet.run("web-01").returncode == 0
    assert fleet.app("web-01")["state"] == "suspended" and fleet.version("web-01") == "1"
    assert fleet.run("web-02").returncode == 0
    # v2 went to the second wave although no canary ever ran it
    assert fleet.version("web-02") == "1", "web-02 applied v2 that no canary applied"


def test_unreadable_report_of_a_glob_wave_host_holds(fleet: Fleet) -> None:
    fleet.release("1", """\
waves:
  - {name: canary, hosts: ["web-*"]}
  - {name: rest, hosts: ["*"]}
""")
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    # web-02 (canary wave too) has a report, but it cannot be read (a YAML bomb)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8))
    push_report(fleet, "gitops-status/web-02", "hosts/web-02.yml", bomb)
    done = fleet.run("db-01")
    assert done.returncode == 0, done.stderr
    assert fleet.version("db-01") is None, "db-01 went ahead of an unreadable canary"


# --- crashes ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["last_pass: 2026-13-45T00:00:00Z\n",
                                  "config_commit: " + "1" * 5000 + "\n"])
def test_bad_peer_report_holds_rather_than_crashing_the_pass(fleet: Fleet, text: str) -> None:
    fleet.release("1", CANARY)
    push_report(fleet, "gitops-status/web-01", "hosts/web-01.yml", text)
    done = fleet.run("web-02")
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert fleet.app("web-02")["state"] == "waiting"


@pytest.mark.parametrize("text", ["pause: {reason: freeze, until: 2026-13-45T00:00:00Z}\n",
                                  "waves: &a [{name: a, hosts: *a}]\n"])
def test_fleet_file_that_pyyaml_cannot_construct_is_one_clear_line(fleet: Fleet,
                                                                   text: str) -> None:
    fleet.release("1", text)
    checked = cli("validate", str(fleet.repo.work))
    assert "internal error" not in checked.stderr, checked.stderr
    assert checked.returncode == 2 and "fleet.yml:1" in checked.stderr, checked.stderr
    done = fleet.run("web-01")  # the hosts: the pass crashes, nothing is reported
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode == 2 and fleet.app("web-01")["state"] == "waiting"


# --- holds that do too much or too little ---------------------------------------------


REMOVE_PLAYBOOK = put_playbook("Remove the site", '"{{ out_dir }}/{{ gitops_host }}.removed"',
                               '"removed\\n"')


def first_apply_held(fleet: Fleet) -> None:
    """An app with a remove_playbook, whose first apply on web-01 a pause holds."""
    later = datetime.now(UTC) + timedelta(days=1)
    fleet.repo.write("playbooks/remove.yml", REMOVE_PLAYBOOK)
    fleet.repo.write("apps/site.yml", "playbook: playbooks/site.yml\n"
                                      "remove_playbook: playbooks/remove.yml\n"
                                      "vars: {version: 1}\n")
    fleet.repo.write("fleet.yml", f'pause: {{reason: freeze, until: "{stamp(later)}"}}\n')
    fleet.repo.commit("site, during a freeze")
    assert fleet.run("web-01").returncode == 0
    assert fleet.app("web-01")["state"] == "waiting" and fleet.version("web-01") is None


def test_app_withdrawn_while_its_first_apply_waited_runs_no_remove_playbook(
        fleet: Fleet) -> None:
    first_apply_held(fleet)
    fleet.repo.remove("apps/site.yml").remove("fleet.yml").commit("withdraw site")
    done = fleet.run("web-01")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (fleet.out / "web-01.removed").exists(), "removed an app never applied here"


def test_app_withdrawn_with_its_remove_playbook_while_waiting_is_forgotten(
        fleet: Fleet) -> None:
    first_apply_held(fleet)
    fleet.repo.remove("apps/site.yml").remove("playbooks/remove.yml").remove("fleet.yml")
    fleet.repo.commit("withdraw site")
    done = fleet.run("web-01")
    assert done.returncode == 0, done.stdout + done.stderr  # 1: "remove playbook unavailable"
    assert "site" not in state(fleet.root / "state-web-01")["apps"]


def test_pause_stops_drift_self_heal(fleet: Fleet) -> None:
    write_config(fleet.configs["web-01"], fleet.repo.url, fleet.root / "state-web-01",
                 host="web-01", labels=HOSTS["web-01"], drift={"self_heal": True})
    fleet.release("1")
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    later = datetime.now(UTC) + timedelta(days=1)
    fleet.repo.write("fleet.yml", f'pause: {{reason: "change freeze", until: "{stamp(later)}"}}\n')
    fleet.repo.commit("freeze")
    (fleet.out / "web-01.txt").write_text("edited by hand\n")
    healed = fleet.run("web-01", "run", "--drift-check")
    assert healed.returncode == 0, healed.stderr
    assert (fleet.out / "web-01.txt").read_text() == "edited by hand\n", \
        "self-heal ran an apply during the change freeze"


def test_last_wave_reports_a_new_commit_at_once_when_hosts_in_no_wave_wait(
        fleet: Fleet) -> None:
    fleet.release("1", """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: web, hosts: [web-02]}
""")  # db-01 is in no wave: it waits for both
    for host in ("web-01", "web-02", "db-01", "web-02"):  # web-02 twice: applied, unchanged
        assert fleet.run(host).returncode == 0
        assert fleet.version(host) == "1"
    fleet.repo.write("apps/db.yml", "hosts: [db-01]\nplaybook: playbooks/site.yml\n"
                                    "vars: {version: db}\n")
    commit = fleet.repo.commit("an app only db-01 has")
    assert fleet.run("web-01").returncode == 0
    assert fleet.run("web-02").returncode == 0
    assert fleet.run("db-01").returncode == 0
    assert report(fleet.repo, "web-02")["config_commit"] == commit, \
        "web-02 keeps its old config_commit until its heartbeat (900 s)"
    assert report(fleet.repo, "db-01")["apps"]["db"]["state"] == "applied"


# --- what the commands say --------------------------------------------------------------


def test_run_playbook_past_a_wave_says_so(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    assert fleet.run("web-02").returncode == 0
    assert fleet.app("web-02")["state"] == "waiting"
    by_hand = fleet.run("web-02", "run-playbook", "site")
    assert by_hand.returncode == 0, by_hand.stderr
    assert fleet.version("web-02") == "1"  # it went past the canary…
    assert "overrides the rollout rules" in by_hand.stderr  # …without a word


def test_plan_with_invalid_fleet_file_is_an_error(fleet: Fleet) -> None:
    fleet.release("1", "waves: [{name: canary, hosts: [web-01]}, {name: canary}]\n")
    assert fleet.run("web-01").returncode == 2
    planned = fleet.run("web-01", "plan")
    assert "nothing to do" not in planned.stdout, planned.stdout
    assert planned.returncode in (1, 2), planned.stdout + planned.stderr


def test_validate_without_waves_does_not_say_host_waits_for_all(fleet: Fleet) -> None:
    fleet.release("1", 'windows: ["Mon-Sun 00:00-24:00 UTC"]\n')
    done = cli("validate", str(fleet.repo.work), "--host", "web-01")
    assert done.returncode == 0, done.stderr
    assert "in no wave" not in done.stdout, done.stdout


# --- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "now"), [
    ("Sun 02:30-03:30 Europe/Berlin", datetime(2026, 10, 25, 1, 10, tzinfo=UTC)),  # fall back
    ("Sun 02:30-04:00 Europe/Berlin", datetime(2026, 3, 29, 0, 40, tzinfo=UTC)),  # spring
    ("Sun 02:00-02:30 Europe/Berlin", datetime(2026, 3, 29, 0, 40, tzinfo=UTC)),  # in the gap
])
def test_next_open_is_when_the_window_really_opens(window: str, now: datetime) -> None:
    from gitops_agent.config.windows import inside, next_open, parse

    rules = (parse(window),)
    assert not inside(rules, now)
    said = next_open(rules, now)
    moment = now
    while not inside(rules, moment):
        moment += timedelta(minutes=1)
    assert said is not None and said > now, f"{said} is not after {now}"
    assert said == moment, f"said {said.astimezone(UTC)}, opens {moment}"


# --- works as documented (kept as regression tests) ---------------------------------------


def test_shared_status_branch_canary_releases_the_rest(fleet: Fleet) -> None:
    for host, labels in HOSTS.items():
        write_config(fleet.configs[host], fleet.repo.url, fleet.root / f"state-{host}",
                     host=host, labels=labels, status={"branch": "gitops-status-all"})
    fleet.release("1", CANARY)
    assert fleet.run("web-02").returncode == 0 and fleet.version("web-02") is None
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    assert fleet.run("web-02").returncode == 0
    assert fleet.version("web-02") == "1"


def test_custom_status_branch_pattern_canary_releases_the_rest(fleet: Fleet) -> None:
    for host, labels in HOSTS.items():
        write_config(fleet.configs[host], fleet.repo.url, fleet.root / f"state-{host}",
                     host=host, labels=labels, status={"branch": "status/{host}/report"})
    fleet.release("1", CANARY)
    assert fleet.run("web-02").returncode == 0 and fleet.version("web-02") is None
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    assert fleet.run("web-02").returncode == 0
    assert fleet.version("web-02") == "1"


def test_shared_status_branch_under_the_per_host_prefix_is_read_by_the_waves(
        fleet: Fleet) -> None:
    for host, labels in HOSTS.items():
        write_config(fleet.configs[host], fleet.repo.url, fleet.root / f"state-{host}",
                     host=host, labels=labels, status={"branch": "gitops-status/shared"})
    fleet.release("1", CANARY)
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    assert report(fleet.repo, "web-01", "gitops-status/shared")["config_commit"]
    done = fleet.run("web-02")
    assert done.returncode == 0, done.stderr
    message = report(fleet.repo, "web-02", "gitops-status/shared")["apps"]["site"]["message"]
    assert fleet.version("web-02") == "1", message  # "web-01 has never reported", for ever


def test_status_json_has_the_wave_the_report_has(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    assert fleet.run("web-01").returncode == 0
    assert report(fleet.repo, "web-01")["wave"] == "canary"
    shown = fleet.run("web-01", "status", "--json")
    assert json.loads(shown.stdout).get("wave") == "canary", shown.stdout


def _sign_and_push(fleet: Fleet, key: Path, message: str) -> str:
    work = fleet.repo.work
    subprocess.run([*GIT, "-C", str(work), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(work), "-c", "gpg.format=ssh", "-c",
                    f"user.signingkey={key}", "commit", "-q", "-S", "--allow-empty", "-m",
                    message], check=True)
    subprocess.run([*GIT, "-C", str(work), "push", "-q", "-f", "origin",
                    "HEAD:refs/heads/main"], check=True)
    return subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_verify_held_host_takes_a_rollback_of_the_commit_it_never_applied(
        fleet: Fleet) -> None:
    from tests.helpers import FAILING_PLAYBOOK

    key = fleet.root / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f",
                    str(key)], check=True)
    allowed = fleet.root / "allowed_signers"
    allowed.write_text(f"ops@x {(fleet.root / 'signing_key.pub').read_text()}")
    for host, labels in HOSTS.items():
        write_config(fleet.configs[host], fleet.repo.url, fleet.root / f"state-{host}",
                     host=host, labels=labels,
                     config_repo={"verify": {"allowed_signers": str(allowed)}})
    fleet.repo.write("apps/site.yml", "playbook: playbooks/site.yml\nvars: {version: 1}\n")
    fleet.repo.write("fleet.yml", CANARY)
    good = _sign_and_push(fleet, key, "v1")
    for host in ("web-01", "web-02"):
        assert fleet.run(host).returncode == 0 and fleet.version(host) == "1"
    fleet.repo.write("playbooks/broken.yml", FAILING_PLAYBOOK)
    fleet.repo.write("apps/site.yml", "playbook: playbooks/broken.yml\nvars: {version: 2}\n")
    _sign_and_push(fleet, key, "v2, broken")
    assert fleet.run("web-01").returncode == 1  # the canary catches it
    assert fleet.run("web-02").returncode == 0 and fleet.app("web-02")["state"] == "waiting"
    # ops take the broken commit out of history and push a fix on top of v1
    subprocess.run([*GIT, "-C", str(fleet.repo.work), "reset", "-q", "--hard", good],
                   check=True)
    fleet.repo.write("apps/site.yml", "playbook: playbooks/site.yml\nvars: {version: 3}\n")
    _sign_and_push(fleet, key, "v3, on v1")
    assert fleet.run("web-01", "run", "--allow-rewind").returncode == 0  # it applied v2
    assert fleet.version("web-01") == "3"
    done = fleet.run("web-02")  # it never applied v2: v3 descends from what it applied
    assert done.returncode == 0, done.stderr
    assert fleet.version("web-02") == "3"


def test_run_playbook_past_an_invalid_fleet_file_says_so_and_exits_0(fleet: Fleet) -> None:
    fleet.release("1", "waves: [{name: canary, hosts: [web-01]}, {name: canary}]\n")
    by_hand = fleet.run("web-01", "run-playbook", "site")
    assert fleet.version("web-01") == "1"  # it ran, and succeeded
    assert by_hand.returncode == 0, by_hand.stderr  # 1: rules_error makes the pass exit 2
    assert "overrides the rollout rules" in by_hand.stderr, by_hand.stderr


def test_fleet_file_listing_hosts_by_name_loads_in_linear_time() -> None:
    import time

    from gitops_agent.config.fleet import rules_from_text

    def load(names: int) -> float:
        """CPU seconds to load two waves of `names` host names each (a busy machine
        slows the wall clock, not this)."""
        first = ", ".join(f"a{index:05d}" for index in range(names))
        second = ", ".join(f"b{index:05d}" for index in range(names))
        started = time.process_time()
        rules = rules_from_text(f"waves:\n  - {{name: one, hosts: [{first}]}}\n"
                                f"  - {{name: two, hosts: [{second}]}}\n")
        assert len(rules.waves) == 2
        return time.process_time() - started

    small, large = load(1000), load(4000)  # 4,000 names: 64 KiB of the 1 MiB allowed
    # linear: 4x the names take ~4x the time; quadratic would take ~16x
    assert large < 8 * max(small, 0.01), f"{small:.2f} s, then {large:.2f} s for 4x the names"
    assert large < 2, f"{large:.1f} s to load fleet.yml (at 1 MiB: about an hour)"


def test_skip_stale_after_does_not_skip_a_canary_that_is_not_stale(fleet: Fleet) -> None:
    import yaml

    fleet.release("1", CANARY + "skip_stale_after: 300\n")
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    # the canary's real report as it stands 10 minutes later: nothing changed on it, so
    # its last_pass waits for the heartbeat (900 s); it is not stale (2 x 900 + 60 s)
    canary = report(fleet.repo, "web-01")
    earlier = stamp(datetime.now(UTC) - timedelta(minutes=10))
    canary["last_pass"] = canary["updated"] = earlier
    push_report(fleet, "gitops-status/web-01", "hosts/web-01.yml", yaml.safe_dump(canary))
    fleet.release("2")  # the canary has not run it yet
    done = fleet.run("web-02")
    assert done.returncode == 0, done.stderr
    assert fleet.version("web-02") is None, "web-02 went ahead of a live canary"
    assert "web-01 has not reported" in str(fleet.app("web-02")["message"])


def test_canary_with_no_apps_does_not_hold_the_rest_for_ever(fleet: Fleet) -> None:
    fleet.repo.write("apps/site.yml", "hosts: [web-02, db-01]\nplaybook: playbooks/site.yml\n"
                                      "vars: {version: 1}\n")
    fleet.repo.write("fleet.yml", CANARY)
    commit = fleet.repo.commit("site, not on the canary")
    assert fleet.run("web-01").returncode == 0
    assert report(fleet.repo, "web-01")["config_commit"] == commit
    assert fleet.run("web-02").returncode == 0 and fleet.version("web-02") == "1"


def test_waiting_on_a_stale_canary_adds_no_report_commit_per_pass(fleet: Fleet) -> None:
    import time

    import yaml

    fleet.release("1", CANARY)
    assert fleet.run("web-01").returncode == 0
    canary = report(fleet.repo, "web-01")
    seen = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2, seconds=45)
    canary["last_pass"] = canary["updated"] = stamp(seen)  # stale: no pass for 2 hours
    push_report(fleet, "gitops-status/web-01", "hosts/web-01.yml", yaml.safe_dump(canary))
    fleet.release("2")
    assert fleet.run("web-02").returncode == 0
    first = fleet.app("web-02")["message"]
    assert f"it is stale (last pass {stamp(seen)})" in str(first), first
    before = fleet.repo.log("gitops-status/web-02")
    while datetime.now(UTC) - seen < timedelta(hours=2, minutes=1, seconds=1):
        time.sleep(1)  # a minute later, nothing has changed anywhere
    assert fleet.run("web-02").returncode == 0
    assert fleet.repo.log("gitops-status/web-02") == before, (first, fleet.app("web-02"))


def test_pause_until_the_end_of_time_with_an_offset_holds(fleet: Fleet) -> None:
    fleet.release("1", 'pause: {reason: "until further notice", '
                       'until: "9999-12-31T23:59:59-05:00"}\n')
    assert cli("validate", str(fleet.repo.work)).returncode == 0  # valid, it says
    done = fleet.run("web-01")
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode == 0 and fleet.app("web-01")["state"] == "waiting"
