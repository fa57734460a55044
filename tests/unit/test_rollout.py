"""Rollout rules: windows, fleet.yml validation and the gate (plan/rollout.py), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops_agent.config import fleet, windows
from gitops_agent.config.fleet import Pause, Rules, Wave
from gitops_agent.errors import ConfigError, GitError
from gitops_agent.plan import APPLY, UNCHANGED, Decision, Plan, rollout
from gitops_agent.plan.rollout import Peer

C = "c" * 40
OLD = "a" * 40
SRC = "5" * 40
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(("window", "moment", "inside"), [
    ("Mon-Fri 08:00-17:00 UTC", "2026-12-02T12:00:00Z", True),
    ("Mon-Fri 08:00-17:00 UTC", "2026-12-02T17:00:00Z", False),  # end exclusive
    ("Mon-Fri 08:00-17:00 UTC", "2026-12-02T08:00:00Z", True),
    ("Mon-Fri 08:00-17:00 UTC", "2026-12-05T12:00:00Z", False),  # Saturday
    ("Sat 22:00-02:00 UTC", "2026-12-06T01:59:00Z", True),  # Sunday morning, from Saturday
    ("Sat 22:00-02:00 UTC", "2026-12-06T22:30:00Z", False),  # Sunday evening
    ("Sat 22:00-02:00 UTC", "2026-12-05T23:00:00Z", True),
    ("Fri-Mon 00:00-24:00 UTC", "2026-12-07T23:59:00Z", True),  # a wrapping day range
    ("Fri-Mon 00:00-24:00 UTC", "2026-12-08T00:00:00Z", False),
    ("Wed 12:00-13:00 Europe/Berlin", "2026-12-02T11:30:00Z", True),  # 12:30 in Berlin
    ("Wed 12:00-13:00 Europe/Berlin", "2026-12-02T12:30:00Z", False),
    ("Wed 22:00-24:00 UTC", "2026-12-02T23:59:00Z", True),
])
def test_window_contains_moment(window: str, moment: str, inside: bool) -> None:
    assert windows.parse(window).contains(at(moment)) is inside


@pytest.mark.parametrize(("text", "problem"), [
    ("Mon-Fri 8-17 UTC", "is not a window"),
    ("Mo-Fr 08:00-17:00 UTC", "is not a day"),
    ("Mon 08:00-08:00 UTC", "ends when it starts"),
    ("Mon 25:00-08:00 UTC", "not a time of day"),
    ("Mon 08:61-09:00 UTC", "not a time of day"),
    ("Mon 08:00-09:00 Mars/Olympus", "not a time zone"),
])
def test_window_unparsable_says_why(text: str, problem: str) -> None:
    with pytest.raises(windows.WindowError, match=problem):
        windows.parse(text)


def test_window_next_open_is_the_next_start() -> None:
    window = windows.parse("Mon-Fri 08:00-17:00 UTC")
    assert window.next_open(at("2026-12-04T18:00:00Z")) == at("2026-12-07T08:00:00Z")


def load(tmp_path: Path, text: str) -> Rules | None:
    (tmp_path / "fleet.yml").write_text(text)
    return fleet.load_rules(tmp_path)


def test_rules_load_waves_pause_windows(tmp_path: Path) -> None:
    rules = load(tmp_path, """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: web, labels: {role: web}}
  - {name: rest, hosts: ["*"]}
pause: {reason: freeze, until: 2026-12-24T00:00:00Z}
windows: ["Mon-Fri 08:00-17:00 UTC"]
skip_stale_after: 3600
""")
    assert rules is not None
    assert [wave.name for wave in rules.waves] == ["canary", "web", "rest"]
    assert rules.pause == Pause("freeze", at("2026-12-24T00:00:00Z"))
    assert rules.skip_stale_after == 3600
    assert rules.wave_of("web-01", {"role": "web"}) == 0
    assert rules.wave_of("web-02", {"role": "web"}) == 1
    assert rules.wave_of("db-01", {}) == 2


def test_rules_without_fleet_file_are_none(tmp_path: Path) -> None:
    assert fleet.load_rules(tmp_path) is None


@pytest.mark.parametrize(("text", "problem"), [
    ("waves: [{name: a, hosts: ['*']}, {name: b, hosts: [web-01]}]", "can never select"),
    ("waves: [{name: a, hosts: [web-01]}, {name: a, hosts: [web-02]}]", "named twice"),
    ("waves: [{name: a, hosts: ['web-*']}, {name: b, hosts: [web-01, db-01]}]",
     "already in wave 'a'"),
    ("waves: [{name: a, labels: {role: web}}, {name: b, labels: {role: web, env: prod}}]",
     "can never select"),
    ("windows: ['Mon-Fri 8-17']", "is not a window"),
    ("pause: {reason: x, until: '2026-12-24T00:00:00'}", "not a time with a zone"),
    ("pause: {until: '2026-12-24T00:00:00Z'}", "reason"),
    ("waves: [{name: a, host: [web-01]}]", "unknown key"),
    ("skip_stale_after: 5", "minimum"),
])
def test_rules_invalid_name_line_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text + "\n")
    assert problem in str(caught.value)
    assert f"{tmp_path / 'fleet.yml'}:1:" in str(caught.value)


def test_rules_labels_then_hosts_are_not_shadowed(tmp_path: Path) -> None:
    rules = load(tmp_path, "waves: [{name: a, labels: {role: web}}, {name: b, hosts: ['*']}]\n")
    assert rules is not None and len(rules.waves) == 2


def test_rules_symlink_out_of_repo_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yml"
    outside.write_text("waves: []\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "fleet.yml").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the config repo"):
        fleet.load_rules(repo)


WAVES = Rules(waves=(Wave("canary", ("web-01",)), Wave("web", (), {"role": "web"}),
                     Wave("rest", ("*",))))


def plan_of(*apps: str) -> Plan:
    return Plan(C, {name: Decision(APPLY, ("app file changed",)) for name in apps}
                | {"idle": Decision(UNCHANGED)})


def peer(host: str, commit: str = C, state: str = "applied", minutes: float = 1,
         source: str | None = SRC, **labels: str) -> Peer:
    return Peer(host, labels, NOW - timedelta(minutes=minutes), commit,
                {"billing": (state, source)})


def gate(rules: Rules, peers: list[Peer] | Exception, host: str = "web-02",
         record: dict[str, object] | None = None, by_hand: bool = False,
         labels: dict[str, str] | None = None) -> tuple[rollout.Outcome, list[int]]:
    asked: list[int] = []

    def fetch(limit: int) -> list[Peer]:
        asked.append(limit)
        if isinstance(peers, Exception):
            raise peers
        return peers

    outcome = rollout.gate(plan_of("billing"), rules, host,
                           {"role": "web"} if labels is None else labels, NOW,
                           {"billing": SRC}, record, fetch, 1800, by_hand)
    return outcome, asked


@pytest.mark.parametrize(("peers", "held"), [
    ([peer("web-01")], None),
    ([peer("web-01", commit=OLD)], "waiting for wave canary: web-01 has not reported"),
    ([], "waiting for wave canary: web-01 has never reported"),
    ([peer("web-01", state="failed")], "wave canary failed: web-01 reports billing failed"),
    ([peer("web-01", state="rolled_back")], "wave canary failed"),
    ([peer("web-01", state="waiting")], "web-01 has not applied billing yet"),
    ([peer("web-01", source="9" * 40)], "has not reported billing at source 555555555555"),
    ([peer("web-01", minutes=600, commit=OLD)], "it is stale (last pass 2026-12-02T02:00:00Z)"),
])
def test_gate_second_wave_follows_canary(peers: list[Peer], held: str | None) -> None:
    outcome, asked = gate(WAVES, peers)
    assert asked == [1]
    assert outcome.plan.held == (held and outcome.plan.held)
    if held is None:
        assert outcome.plan.decisions["billing"].action == APPLY
        assert outcome.released == {"commit": C, "sources": {"billing": SRC}}
    else:
        assert held in str(outcome.plan.held)
        assert outcome.plan.decisions["billing"].action == rollout.WAIT
        assert outcome.plan.decisions["idle"].action == UNCHANGED


def test_gate_stale_host_skipped_when_fleet_says_so() -> None:
    rules = Rules(waves=WAVES.waves, skip_stale_after=3600)
    outcome, _ = gate(rules, [peer("web-01", minutes=120, commit=OLD)])
    assert outcome.plan.held is None
    outcome, _ = gate(rules, [peer("web-01", minutes=30, commit=OLD)])
    assert outcome.plan.held is not None


def test_gate_third_wave_waits_for_every_earlier_host() -> None:
    peers = [peer("web-01"), peer("web-02", role="web"), peer("web-03", commit=OLD, role="web")]
    outcome, asked = gate(WAVES, peers, host="db-01", labels={})
    assert asked == [2]
    assert "waiting for wave web: web-03 has not reported" in str(outcome.plan.held)
    peers[2] = peer("web-03", role="web")
    assert gate(WAVES, peers, host="db-01", labels={})[0].plan.held is None


def test_gate_later_wave_failure_does_not_hold_earlier() -> None:
    outcome, asked = gate(WAVES, [peer("db-01", state="failed")], host="web-01")
    assert asked == [] and outcome.plan.held is None and outcome.gate.leads


def test_gate_released_commit_reads_no_reports() -> None:
    outcome, asked = gate(WAVES, [], record={"commit": C, "sources": {"billing": SRC}})
    assert asked == [] and outcome.plan.held is None
    outcome, asked = gate(WAVES, [], record={"commit": C, "sources": {"billing": "9" * 40}})
    assert asked == [1] and outcome.plan.held is not None


def test_gate_unreadable_reports_hold() -> None:
    outcome, _ = gate(WAVES, GitError("cannot read the status branches"))
    assert "cannot be read" in str(outcome.plan.held)


@pytest.mark.parametrize(("rules", "held"), [
    (Rules(pause=Pause("release freeze", NOW + timedelta(hours=1))), "release freeze"),
    (Rules(pause=Pause("release freeze")), "paused by fleet.yml: release freeze"),
    (Rules(pause=Pause("old freeze", NOW - timedelta(hours=1))), None),
    (Rules(windows=(windows.parse("Sat-Sun 00:00-24:00 UTC"),)),
     "outside the rollout windows (Sat-Sun 00:00-24:00 UTC); the next opens at "
     "2026-12-05T00:00:00Z"),
    (Rules(windows=(windows.parse("Wed 11:00-13:00 UTC"),)), None),
])
def test_gate_pause_and_windows_hold_every_host(rules: Rules, held: str | None) -> None:
    outcome, asked = gate(rules, [], host="web-01")
    assert asked == []
    assert (held in str(outcome.plan.held)) if held else outcome.plan.held is None


def test_gate_by_hand_overrides_and_says_so() -> None:
    rules = Rules(waves=WAVES.waves, pause=Pause("freeze"))
    outcome, asked = gate(rules, [], by_hand=True)
    assert asked == [] and outcome.plan.held is None
    assert outcome.gate.overridden == "paused by fleet.yml: freeze"


def test_gate_nothing_pending_asks_nothing() -> None:
    plan = Plan(C, {"idle": Decision(UNCHANGED)})
    outcome = rollout.gate(plan, WAVES, "web-02", {"role": "web"}, NOW, {}, None,
                           lambda limit: pytest.fail("no reports are read"), 1800)
    assert outcome.plan is plan and outcome.gate.wave == "web"


def test_hold_keeps_removals_waiting() -> None:
    plan = Plan(C, {"billing": Decision(APPLY, ("first apply",))}, remove=["old"])
    held = rollout.hold(plan, "paused")
    assert held.remove == [] and held.waiting == ["old"] and held.held == "paused"
    assert held.decisions["billing"] == Decision(rollout.WAIT, ("paused", "first apply"))


@pytest.mark.parametrize("state", ["suspended", "drifted", "removed"])
def test_gate_pending_app_must_be_applied_or_unchanged_on_the_canary(state: str) -> None:
    outcome, _ = gate(WAVES, [peer("web-01", state=state)])
    assert f"web-01 has not applied billing yet ({state})" in str(outcome.plan.held)


def test_gate_other_apps_of_the_canary_may_be_suspended() -> None:
    canary = Peer("web-01", {}, NOW, C, {"billing": ("applied", SRC), "cron": ("suspended", None)})
    assert gate(WAVES, [canary])[0].plan.held is None


def test_gate_skip_stale_after_never_skips_a_host_that_is_not_stale() -> None:
    rules = Rules(waves=WAVES.waves, skip_stale_after=300)  # shorter than stale_after (1800)
    outcome, _ = gate(rules, [peer("web-01", minutes=20, commit=OLD)])
    assert "web-01 has not reported" in str(outcome.plan.held)
    assert gate(rules, [peer("web-01", minutes=31, commit=OLD)])[0].plan.held is None


def test_gate_unreadable_report_holds_the_waves_its_name_could_be_in() -> None:
    rules = Rules(waves=(Wave("canary", ("web-*",)), Wave("rest", ("*",))))
    peers = [peer("web-01"), Peer("web-09", problem="invalid YAML")]
    outcome, _ = gate(rules, peers, host="db-01", labels={})
    assert "the report of web-09 cannot be read (invalid YAML)" in str(outcome.plan.held)
    readable_too = [*peers, peer("web-09")]  # a readable report of it wins
    assert gate(rules, readable_too, host="db-01", labels={})[0].plan.held is None


def test_gate_stale_reason_names_the_time_not_an_age() -> None:
    outcome, _ = gate(WAVES, [peer("web-01", minutes=125, commit=OLD)])
    assert "it is stale (last pass 2026-12-02T09:55:00Z)" in str(outcome.plan.held)


@pytest.mark.parametrize(("rules", "host", "leads"), [
    (WAVES, "web-01", True),
    (WAVES, "db-01", False),  # the last wave takes every host: no one waits for it
    (Rules(waves=(Wave("canary", ("web-01",)), Wave("web", ("web-*",)))), "web-02", True),
    (Rules(waves=(Wave("canary", ("web-01",)),)), "web-01", True),
    (Rules(waves=(Wave("canary", ("web-01",)),)), "db-01", False),  # in no wave
])
def test_gate_leads_when_any_host_can_wait_for_it(rules: Rules, host: str, leads: bool) -> None:
    assert rollout.local(rules, host, {}, NOW).leads is leads


def test_gate_by_hand_past_the_waves_says_so() -> None:
    outcome, asked = gate(WAVES, [], by_hand=True)
    assert asked == [] and outcome.plan.held is None
    assert outcome.gate.overridden == "wave web: the earlier waves were not asked"


def test_rules_pause_until_beyond_utc_is_the_end_of_time(tmp_path: Path) -> None:
    rules = load(tmp_path, 'pause: {reason: x, until: "9999-12-31T23:59:59-05:00"}\n')
    assert rules is not None and rules.pause is not None and rules.pause.active(NOW)
    assert fleet.describe_pause(rules.pause).startswith("paused by fleet.yml until 9999-")


@pytest.mark.parametrize(("window", "now", "opens"), [
    ("Sun 02:30-03:30 Europe/Berlin", "2026-10-25T01:10:00Z", "2026-10-25T01:30:00Z"),
    ("Sun 02:30-04:00 Europe/Berlin", "2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z"),
    ("Sun 02:00-02:30 Europe/Berlin", "2026-03-29T00:40:00Z", "2026-04-05T00:00:00Z"),
    ("Fri-Mon 00:00-24:00 UTC", "2026-12-02T12:00:00Z", "2026-12-04T00:00:00Z"),
])
def test_window_next_open_across_daylight_saving(window: str, now: str, opens: str) -> None:
    assert windows.parse(window).next_open(at(now)) == at(opens)
