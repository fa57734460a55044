"""Pure: the cause of a failure, from what Ansible printed, fit for the report.

Ansible's own output can quote anything (the offending source line, a failing
command's stdout, a template with a secret), so nothing is copied from it whole:
only an OS error it names (`[Errno 2] No such file or directory: '/usr/bin/tool'`)
from its own error lines, and its first error line with the file and line it points
at, the run's variable values masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

ERROR_PREFIXES = ("ERROR!", "[ERROR]:")
OS_ERROR = re.compile(r"\[Errno \d+\] [A-Za-z][A-Za-z ,-]{0,60}(?:: b?'[^'\r\n]{1,200}')?")
# where Ansible says the error is: its 2.19 "Origin:" line, and the older wording
ORIGIN = re.compile(r"^Origin: (.+?):(\d+)(?::\d+)?\s*$")
ERROR_WHERE = re.compile(r"The (?:error|offending line) appears to be in '([^']*)': "
                         r"line (\d+), column (\d+)")
RESULT_LINE = re.compile(r"^(fatal|failed|ok|changed): \[")  # a task result Ansible printed
SHORTEST_MASKED = 4  # shorter values are words of any message, not secrets
MASK = "***"


def os_error(stdout: str) -> str | None:
    """The OS error Ansible's error lines for a failed task name (a missing binary), from
    the text before the task's result line, which may quote the command's own output."""
    for line in stdout.splitlines():
        if RESULT_LINE.match(line.strip()):
            break
        if line.strip().startswith(ERROR_PREFIXES):
            found = OS_ERROR.search(line)
            if found:
                return found.group(0).replace(": b'", ": '")
    return None


def masked(text: str, hidden: Iterable[str]) -> str:
    """`text` with every value of `hidden` (longest first) replaced by ***."""
    for value in sorted({value for value in hidden if len(value) >= SHORTEST_MASKED},
                        key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def error_line(stdout: str, hidden: Iterable[str] = ()) -> str | None:
    """Ansible's first error line without its prefix, and the file and line it points
    at; the source lines it quotes after it are never taken. None without one."""
    found: str | None = None
    for line in stdout.splitlines():
        text = line.strip()
        if found is None:
            if text.startswith(ERROR_PREFIXES):
                found = text.split(None, 1)[1] if " " in text else ""
            continue
        where = ORIGIN.match(text) or ERROR_WHERE.search(text)
        if where:
            found += f" (at {Path(where.group(1)).name}:{where.group(2)})"
            break
        if text.startswith(ERROR_PREFIXES):
            break
    return None if found is None else masked(found, hidden)
