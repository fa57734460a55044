"""Pure renders of the fleet document: fleet.md (Markdown for the git host) and the
terminal table. Every value came from some host's report: in Markdown each one is an
escaped cell (report.cell), on the terminal control characters are dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gitops_agent.clock import parse_iso
from gitops_agent.publish.report import CONTROL, cell, code


def age(stamp: Any, now: datetime) -> str:
    """'12m ago' for a report time; '?' when it is not a time."""
    moment = parse_iso(stamp)
    if moment is None:
        return "?"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def apps_cell(summary: dict[str, int]) -> str:
    """'2 applied, 1 failed' (or 'no apps')."""
    parts = [f"{count} {state}" for state, count in summary.items() if state != "apps"]
    return ", ".join(parts) or "no apps"


def failures(host: dict[str, Any]) -> list[str]:
    """'app: first failed task: message', one per failed app (and the pass's error)."""
    lines = [f"last pass failed: {host['error']}"] if host.get("error") else []
    for failed in host["failed"]:
        lines.append(": ".join(str(part) for part in (failed["app"], failed["task"],
                                                        failed["msg"]) if part))
    return lines


def _last(host: dict[str, Any]) -> Any:
    return host["last_pass"] or host["updated"]


def _plain(value: Any) -> str:
    """One terminal-safe line: no escape sequences, no control characters."""
    return CONTROL.sub("", " ".join(str("-" if value is None else value).splitlines()))


def wave_state(wave: dict[str, Any]) -> str:
    """One word for a wave of the rollout: empty (no host: it holds the later waves), done,
    held (an earlier wave is not done), failed, or open (under way)."""
    if not wave["hosts"]:
        return "empty"
    if wave["done"] == wave["hosts"]:
        return "done"
    if not wave["open"]:
        return "held"
    return "failed" if wave["failed"] else "open"


def holds(rollout: dict[str, Any]) -> str | None:
    """What holds every host whatever its wave: the pause, or the windows."""
    if rollout["paused"]:
        until = f" until {rollout['paused_until']}" if rollout["paused_until"] else ""
        return f"paused{until}: {rollout['paused']}"
    if not rollout["in_window"]:
        coming = rollout["next_window"]
        return "outside the rollout windows" + (f"; the next opens at {coming}"
                                                if coming else "")
    return None


COLUMNS = ("hosts", "done", "waiting", "failed", "stale")


def rollout_text(rollout: dict[str, Any] | None) -> list[str]:
    """`rollout of <commit>[: what holds it]`, then a row per wave."""
    if not rollout:
        return []
    held = holds(rollout)
    lines = [f"rollout of {_plain(rollout['commit'])[:12]}"
             + (f": {_plain(held)[:160]}" if held else "")]
    waves = rollout.get("waves") or []
    if waves:
        width = min(max([len(wave["name"]) for wave in waves] + [4]), 24)
        lines.append(f"  {'WAVE':<{width}}  " + "  ".join(f"{name.upper():>7}"
                                                          for name in COLUMNS) + "  STATE")
        lines += [f"  {_plain(wave['name'])[:width]:<{width}}  "
                  + "  ".join(f"{wave[name]:>7}" for name in COLUMNS)
                  + f"  {wave_state(wave)}" for wave in waves]
    return lines


def rollout_markdown(rollout: dict[str, Any] | None) -> list[str]:
    if not rollout:
        return []
    held = holds(rollout)
    lines = ["", "## Rollout", "", f"Config commit {code(rollout['commit'])}"
             + (f" · {cell(held)}" if held else "")]
    if rollout.get("waves"):
        lines += ["", "| wave | hosts | done | waiting | failed | stale | state |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {cell(wave['name'])} | "
                  + " | ".join(str(wave[name]) for name in COLUMNS)
                  + f" | {wave_state(wave)} |" for wave in rollout["waves"]]
    return lines


def to_text(document: dict[str, Any], now: datetime) -> list[str]:
    hosts = document["hosts"]
    width = max([len(name) for name in hosts] + [4])
    waves = any(host["wave"] for host in hosts.values())
    lines = [f"{'HOST':<{width}}  {'LAST PASS':<10}  {'CONFIG':<12}  "
             + (f"{'WAVE':<10}  " if waves else "") + "APPS / FAILED"]
    for name, host in hosts.items():
        mark = "  STALE" if host["stale"] else ""
        commit = _plain(host["config_commit"])[:12]
        wave = f"{_plain(host['wave'])[:10]:<10}  " if waves else ""
        lines.append(f"{_plain(name):<{width}}  {age(_last(host), now):<10}  {commit:<12}  "
                     f"{wave}{_plain(apps_cell(host['summary']))}{mark}")
        lines += [f"{'':<{width}}    ! {_plain(line)[:200]}" for line in failures(host)]
    summary = document["summary"]
    lines.append(f"{summary['hosts']} hosts, {summary['failed']} failed, "
                 f"{summary['stale']} stale"
                 + (f", {summary['unreadable']} unreadable report(s)"
                    if summary["unreadable"] else ""))
    if document["stale"]:
        lines.append(f"stale (no pass within {document['stale_after']}s): " + ", ".join(
            f"{name} (last pass {age(_last(hosts[name]), now)})" for name in document["stale"]))
    lines += rollout_text(document.get("rollout"))
    lines += [f"unreadable: {_plain(item['branch'])}: {_plain(item['host'])}: "
              f"{_plain(item['problem'])}" for item in document["unreadable"]]
    return lines


def to_markdown(document: dict[str, Any]) -> str:
    summary = document["summary"]
    hosts = document["hosts"]
    lines = [
        "# Fleet",
        "",
        f"Generated {cell(document['generated'])} by `gitops-agent fleet` · "
        f"{summary['hosts']} hosts · {summary['failed']} failed · {summary['stale']} stale "
        f"(no pass within {document['stale_after']}s)",
        "",
        "| host | wave | last pass | config | apps | failed | stale |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, host in hosts.items():
        failed = "; ".join(cell(line) for line in failures(host)) or "—"
        lines.append(f"| {cell(name)} | {cell(host['wave'])} | "
                     f"{cell(_last(host))} | "
                     f"{code(host['config_commit'])} | {cell(apps_cell(host['summary']))} | "
                     f"{failed} | {'**stale**' if host['stale'] else ''} |")
    lines += rollout_markdown(document.get("rollout"))
    if document["unreadable"]:
        lines += ["", "## Unreadable reports", ""]
        lines += [f"- branch {cell(item['branch'])}, host {cell(item['host'])}: "
                  f"{cell(item['problem'])}" for item in document["unreadable"]]
    return "\n".join(lines) + "\n"
