"""metrics: the textfile parses with prometheus_client and says what an operator alerts on."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gitops_agent import __version__
from gitops_agent.publish import metrics
from gitops_agent.publish.report import STATES, build

CONFIG = "3f2c" + "0" * 36


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the textfile, by name and sorted labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def document(host: str = "web-01", error: str | None = None, **states: str) -> dict[str, Any]:
    apps = {name: {"state": state, "message": "m"} for name, state in states.items()}
    return build(host, "2026-11-23T12:00:00Z", CONFIG, apps, error)


def facts(pushed: bool | None = True, **last_success: str | None) -> metrics.PassFacts:
    return metrics.PassFacts(finished=1_790_000_000.5, duration=4.25, pushed=pushed,
                             last_success=last_success)


def test_render_parses_and_has_one_state_series_per_app_and_known_state():
    text = metrics.render(document(billing="failed", web="applied"),
                          facts(web="2026-11-23T12:00:00Z", billing=None))
    found = samples(text)
    assert found[("gitops_agent_last_pass_timestamp_seconds", ())] == 1_790_000_000.5
    assert found[("gitops_agent_pass_duration_seconds", ())] == 4.25
    for app, current in (("billing", "failed"), ("web", "applied")):
        for state in STATES:
            value = found[("gitops_agent_app_state", (("app", app), ("state", state)))]
            assert value == (1 if state == current else 0)
    assert found[("gitops_agent_app_last_success_timestamp_seconds", (("app", "web"),))] == \
        1_795_435_200  # 2026-11-23T12:00:00Z
    assert ("gitops_agent_app_last_success_timestamp_seconds", (("app", "billing"),)) \
        not in found  # never succeeded: no series
    assert found[("gitops_agent_apps", (("state", "failed"),))] == 1
    assert found[("gitops_agent_apps", (("state", "applied"),))] == 1
    assert found[("gitops_agent_apps", (("state", "waiting"),))] == 0
    assert found[("gitops_agent_pass_error", ())] == 0
    assert found[("gitops_agent_report_pushed", ())] == 1
    assert found[("gitops_agent_info", (("config_commit", CONFIG), ("host", "web-01"),
                                        ("version", __version__)))] == 1


def test_render_error_and_unpushed_report_and_disabled_status():
    found = samples(metrics.render(document(error="config repo unreachable"), facts(False)))
    assert found[("gitops_agent_pass_error", ())] == 1
    assert found[("gitops_agent_report_pushed", ())] == 0
    assert ("gitops_agent_report_pushed", ()) not in samples(
        metrics.render(document(), facts(None)))


def test_render_escapes_label_values():
    host = 'we"b\\01\nx'
    found = samples(metrics.render(document(host=host, web="applied"), facts()))
    info = [labels for name, labels in found if name == "gitops_agent_info"]
    assert dict(info[0])["host"] == host


def test_render_every_family_has_help_and_type():
    text = metrics.render(document(web="applied"), facts(web="2026-11-23T12:00:00Z"))
    families = list(text_string_to_metric_families(text))
    assert all(family.type == "gauge" and family.documentation for family in families)
    assert text.endswith("\n")


def test_write_replaces_atomically_readable_by_others(tmp_path: Path):
    path = tmp_path / "gitops-agent.prom"
    path.write_text("old\n")
    assert metrics.write(str(path), "gitops_agent_pass_error 0\n")
    assert path.read_text() == "gitops_agent_pass_error 0\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["gitops-agent.prom"]  # no temp file left


def test_write_unwritable_path_is_one_warning(tmp_path: Path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert not metrics.write(str(blocker / "gitops-agent.prom"), "x 1\n")
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "metrics textfile" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
