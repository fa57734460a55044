"""Pure render of a host's results into hosts/<host>.yml and hosts/<host>.md."""

from __future__ import annotations

import re
from typing import Any

import yaml

from gitops_agent import __version__
from gitops_agent.config.yamlfile import load_mapping

STATES = ("applied", "unchanged", "failed", "removed", "suspended", "blocked",
          "rolled_back", "drifted", "waiting")
TIMES = ("updated", "last_pass")  # a report that differs only here says nothing new
SUMMARY_KEYS = ("applied", "unchanged", "failed", "removed", "suspended")
APP_FIELDS = ("state", "source_commit", "config_commit", "started", "duration", "stats",
              "failed_tasks", "run_id", "message")
STAT_KEYS = ("ok", "changed", "failed", "skipped", "unreachable")
EXTRA_FIELDS = ("restored", "suspended", "drifted_tasks", "retry_at")  # shown only when set


def _app(record: dict[str, Any]) -> dict[str, Any]:
    """Only the report's own fields, from an allow-list (the state keeps more)."""
    app = {key: record.get(key) for key in APP_FIELDS}
    stats = record.get("stats") or {}
    app["stats"] = {key: int(stats.get(key, 0)) for key in STAT_KEYS}
    app["failed_tasks"] = [{key: str(task.get(key, "")) for key in ("task", "module", "msg")}
                           for task in record.get("failed_tasks") or []]
    app.update({key: record[key] for key in EXTRA_FIELDS if record.get(key)})
    return app


def build(host: str, updated: str, config_commit: str | None,
          apps: dict[str, dict[str, Any]], error: str | None = None,
          labels: dict[str, str] | None = None, last_pass: str | None = None,
          wave: str | None = None) -> dict[str, Any]:
    """The report document: SPEC §5 field for field, apps in name order; `error` says
    why the last pass could not reach or use the config repo (apps keep their last
    results). `updated` is when the content last changed, `last_pass` the heartbeat."""
    summary = {"apps": len(apps), **dict.fromkeys(SUMMARY_KEYS, 0)}
    for record in apps.values():
        if record["state"] in summary:
            summary[record["state"]] += 1
        elif record["state"] in STATES:
            summary[record["state"]] = summary.get(record["state"], 0) + 1
    document = {
        "host": host,
        "agent_version": __version__,
        "updated": updated,
        "last_pass": last_pass or updated,
        "labels": dict(sorted((labels or {}).items())),
        **({"wave": wave} if wave else {}),
        "config_commit": config_commit,
        "summary": summary,
        "apps": {name: _app(apps[name]) for name in sorted(apps)},
    }
    if error:
        document["error"] = error
    return document


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(report: dict[str, Any]) -> str:
    return yaml.dump(report, Dumper=DUMPER, sort_keys=False, default_flow_style=False,
                     width=100, allow_unicode=True)


def parse(text: str | None) -> dict[str, Any] | None:
    """A report read back from a branch (anyone with push access may have written it)."""
    return load_mapping(text)


def content(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a report says, without its times or the config commit at its top: a config
    commit that re-applies nothing on the host changes nothing here (SPEC §5)."""
    if report is None:
        return None
    return {key: value for key, value in report.items()
            if key not in (*TIMES, "config_commit")}


def same_except_time(old: dict[str, Any] | None, report: dict[str, Any]) -> bool:
    """Whether an earlier report (parsed) says the same, its times and top config commit
    aside."""
    return old is not None and content(old) == content(report)


CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MARKDOWN = re.compile(r"([\\`*\[\]<>|])")  # code, emphasis, links and images, HTML, tables


def _cell(value: Any) -> str:
    """A markdown table cell: one line, terminal escapes and control characters dropped,
    every character Markdown or HTML would act on escaped (a message cannot format,
    link or inject anything in the rendered report)."""
    if value is None:
        return "—"
    text = CONTROL.sub("", " ".join(str(value).splitlines()))
    return MARKDOWN.sub(r"\\\1", text)


def _code(sha: Any) -> str:
    """A commit as inline code (12 hex digits; anything else is escaped text)."""
    if not isinstance(sha, str) or not sha:
        return "—"
    return f"`{sha[:12]}`" if re.fullmatch(r"[0-9a-f]+", sha) else _cell(sha)


def _details(name: str, app: dict[str, Any]) -> list[str]:
    """Bullet lines for the fields a state adds: suspension, rollback, drift, backoff."""
    lines = []
    if suspended := app.get("suspended"):
        lines.append(f"- **{_cell(name)}** suspended by {_cell(suspended.get('by'))} at "
                     f"{_cell(suspended.get('at'))}: {_cell(suspended.get('reason'))}")
    if restored := app.get("restored"):
        source = restored.get("source_commit")
        lines.append(f"- **{_cell(name)}** rolled back to config "
                     f"`{str(restored.get('config_commit'))[:12]}`"
                     + (f", source `{source[:12]}`" if source else "")
                     + f" (run {_cell(restored.get('run_id'))})")
    if tasks := app.get("drifted_tasks"):
        lines.append(f"- **{_cell(name)}** drifted: "
                     + ", ".join(_cell(task) for task in tasks))
    if retry_at := app.get("retry_at"):
        lines.append(f"- **{_cell(name)}** keeps failing on the same inputs: next attempt "
                     f"after {_cell(retry_at)} (backoff)")
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    commit = report["config_commit"]
    lines = [
        f"# {report['host']}",
        "",
        f"Updated {report['updated']} by gitops-agent {report['agent_version']}"
        f" · config `{commit[:12] if commit else '—'}` · last pass {report.get('last_pass')}",
        "",
        *([f"**The last pass failed:** {_cell(report['error'])}", ""]
          if report.get("error") else []),
        " · ".join(f"{key}: {value}" for key, value in summary.items()),
        "",
        "| app | state | source | config | started | duration | ok | changed | failed | message |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, app in report["apps"].items():
        stats = app.get("stats") or {}
        source = app.get("source_commit")
        config = app.get("config_commit")
        duration = app.get("duration")
        cells = [_cell(name), f"**{_cell(app['state'])}**", _code(source), _code(config),
                 *(_cell(value) for value in (
                     app.get("started"),
                     f"{duration:.1f}s" if isinstance(duration, (int, float)) else None,
                     stats.get("ok"), stats.get("changed"), stats.get("failed"),
                     app.get("message")))]
        lines.append("| " + " | ".join(cells) + " |")
    details = [line for name, app in report["apps"].items() for line in _details(name, app)]
    if details:
        lines += ["", "## Details", "", *details]
    failures = [(name, task) for name, app in report["apps"].items()
                for task in app.get("failed_tasks") or []]
    if failures:
        lines += ["", "## Failed tasks", "", "| app | task | module | message |",
                  "|---|---|---|---|"]
        lines += [f"| {_cell(name)} | {_cell(task.get('task'))} | {_cell(task.get('module'))} "
                  f"| {_cell(task.get('msg'))} |" for name, task in failures]
    return "\n".join(lines) + "\n"


cell, code = _cell, _code  # for the other Markdown renders (the fleet overview)
