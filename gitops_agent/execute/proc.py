"""The one place that runs non-git subprocesses: argv lists, no shell, a timeout."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def last_line(self) -> str:
        lines = [line.strip() for line in (self.stderr + "\n" + self.stdout).splitlines()
                 if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "error" in line.lower()]
        return (errors or lines or [f"exit code {self.rc}"])[0]


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300,
        cwd: str | None = None, stdin: str | None = None, pass_fds: Sequence[int] = ()
        ) -> Completed:
    """Run `argv`; a missing program or a timeout is rc 127 / 124 with a reason, not a raise."""
    try:
        done = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, check=False,
                              input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              pass_fds=tuple(pass_fds))
        return Completed(tuple(argv), done.returncode, done.stdout, done.stderr)
    except FileNotFoundError:
        return Completed(tuple(argv), 127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Completed(tuple(argv), 124, "", f"{argv[0]}: timed out after {timeout}s")
