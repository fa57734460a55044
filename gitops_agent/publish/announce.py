"""After a pass's report: the metrics textfile and the webhook notifications.

Both only tell others what the report says; neither ever changes the pass's result,
and a failure of either is one warning line. Each module is imported only when it is
configured: a pass without them stays as quick to start as before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gitops_agent.config import AgentConfig
from gitops_agent.layout import Layout
from gitops_agent.record.state import State

log = logging.getLogger(__name__)


def announce(config: AgentConfig, layout: Layout, state: State, document: dict[str, Any],
             duration: float, pushed: bool | None) -> None:
    """Write the textfile (with `metrics.textfile`) and send what changed (with `notify`).
    `pushed`: whether the report reached the status branch (None: status is disabled)."""
    if config.metrics_textfile:
        try:
            from gitops_agent.publish import metrics

            facts = metrics.PassFacts(
                finished=time.time(), duration=duration, pushed=pushed,
                last_success={name: record.last_success for name, record in state.apps.items()})
            metrics.write(config.metrics_textfile, metrics.render(document, facts))
        except Exception as error:  # a secondary output never fails the pass
            log.warning("metrics textfile not written: %s: %s", type(error).__name__, error)
    if config.notify:
        from gitops_agent.publish import notify

        notify.notify_pass(config.notify, config.host, document.get("apps") or {},
                           layout.notify_file)
