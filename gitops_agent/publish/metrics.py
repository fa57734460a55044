"""The Prometheus textfile (SPEC §7): a pass's results for node_exporter's textfile collector.

`render` is pure: the report document and the state's last-success times in, the text
exposition format out (label values escaped, so any host name or commit is safe).
`write` replaces the file atomically with mode 0644, and never fails a pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gitops_agent.publish.report import STATES
from gitops_agent.record.state import write_atomically

log = logging.getLogger(__name__)
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PassFacts:
    """What the report does not say about a pass."""

    finished: float  # epoch seconds
    duration: float  # seconds
    pushed: bool | None  # the report reached the status branch; None: status is disabled
    last_success: Mapping[str, str | None]  # app -> ISO time its last apply succeeded


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):  # bools too
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _family(name: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        inner = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        lines.append(f"{name}{{{inner}}} {_number(value)}" if inner
                     else f"{name} {_number(value)}")
    return lines


def _epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 UTC time; None when unreadable."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def render(document: dict[str, Any], facts: PassFacts) -> str:
    """The textfile for a pass whose report is `document` (report.build)."""
    apps: dict[str, dict[str, Any]] = document.get("apps") or {}
    states = {name: str(app.get("state")) for name, app in apps.items()}
    known = [*STATES, *sorted({state for state in states.values() if state not in STATES})]
    info = (("version", str(document.get("agent_version", ""))),
            ("host", str(document.get("host", ""))),
            ("config_commit", str(document.get("config_commit") or "")))
    successes = {name: _epoch(facts.last_success.get(name)) for name in sorted(apps)}
    lines = [
        *_family("gitops_agent_info", "The agent's version, host name and config commit.",
                 [(info, 1)]),
        *_family("gitops_agent_last_pass_timestamp_seconds",
                 "When the last pass ended (seconds since the epoch).",
                 [((), facts.finished)]),
        *_family("gitops_agent_pass_duration_seconds", "How long the last pass took.",
                 [((), facts.duration)]),
        *_family("gitops_agent_pass_error",
                 "1 when the last pass could not reach or use the config repo.",
                 [((), 1 if document.get("error") else 0)]),
    ]
    if facts.pushed is not None:
        lines += _family("gitops_agent_report_pushed",
                         "1 when the last pass's report reached the status branch.",
                         [((), 1 if facts.pushed else 0)])
    lines += [
        *_family("gitops_agent_apps", "Apps on this host in each state.",
                 [((("state", state),), sum(1 for value in states.values() if value == state))
                  for state in known]),
        *_family("gitops_agent_app_state", "1 for the app's current state, 0 for the others.",
                 [((("app", name), ("state", state)), 1 if states[name] == state else 0)
                  for name in sorted(apps) for state in known]),
        *_family("gitops_agent_app_last_success_timestamp_seconds",
                 "When an apply of the app last succeeded (absent: never).",
                 [((("app", name),), when) for name, when in successes.items()
                  if when is not None]),
    ]
    return "\n".join(lines) + "\n"


def write(path: str, text: str) -> bool:
    """Replace the textfile atomically (readable by node_exporter); a failure is one
    warning line, never a failed pass."""
    try:
        write_atomically(Path(path), text, mode=0o644)
    except OSError as error:
        log.warning("metrics textfile %s not written: %s", path,
                    error.strerror or type(error).__name__)
        return False
    return True
