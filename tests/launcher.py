"""Warm starts for the tests' command lines (tests.helpers.cli).

A new Python spends ~0.15 s of CPU starting and importing the agent, click, GitPython
and PyYAML before a command does anything, and the suite runs ~650 commands. The
launcher is a Python that has imported them, one per pytest worker; it forks a copy
for each command. The copy is still a process of its own: it gets the command's argv,
environment, working directory, umask and stdin/stdout/stderr, runs
`python -m gitops_agent` as the interpreter would (runpy, `__main__`), and its exit
status is the command's. It only skips the interpreter's start and the imports.

Those two (and the installed `gitops-agent` script) are what the cold starts show:
the README example, the installer, the commands started with Popen, and
tests/integration/test_warm_start.py, which runs the same commands both ways.
GITOPS_TEST_COLD=1 makes every command start cold.

Protocol, over a SOCK_SEQPACKET unix socket: the test sends one JSON message (argv,
env, cwd, umask) with its stdin/stdout/stderr as SCM_RIGHTS; the launcher forks a
handler, which forks the command, replies with its pid, waits for it and replies with
its exit code (negative: killed by that signal), as subprocess does.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from typing import Any, NoReturn


def _command(request: dict[str, Any], fds: list[int]) -> NoReturn:
    """In the forked copy: become the command, run it, exit with its code."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from this environment's TMPDIR
    sys.argv = ["-m", *request["args"]]
    code = 0
    try:
        runpy.run_module("gitops_agent", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:  # as the interpreter: the traceback, exit 1
        traceback.print_exc()
        code = 1
    try:  # then what the interpreter does at exit
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def _handle(connection: socket.socket) -> None:
    """In the forked handler: start one command and report its pid and its end."""
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _command(request, fds)
    for fd in fds:
        os.close(fd)
    connection.send(str(pid).encode())
    _, status = os.waitpid(pid, 0)
    connection.send(str(os.waitstatus_to_exitcode(status)).encode())


def serve(path: str) -> None:
    """Import the agent, then start a command per connection until stdin closes."""
    import pkgutil

    import gitops_agent.cli  # noqa: F401  (what every command imports first)
    from gitops_agent import commands

    for module in pkgutil.iter_modules(commands.__path__):  # and what each one imports
        __import__(f"gitops_agent.commands.{module.name}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)  # EOF: the pytest worker ended
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:
                return
            connection, _ = listener.accept()
            if os.fork() == 0:
                selector.close()
                listener.close()
                try:
                    _handle(connection)
                finally:
                    os._exit(0)
            connection.close()
        while True:  # reap the handlers that ended
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


class Launcher:
    """The test side: one launcher process per pytest worker, started at first use."""

    def __init__(self) -> None:
        short = len(tempfile.gettempdir()) < 80  # a socket's path has 107 bytes at most
        self.directory = tempfile.mkdtemp(prefix="launcher-", dir=None if short else "/tmp")
        self.path = os.path.join(self.directory, "socket")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.launcher", self.path], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(__file__)))
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError("the tests' launcher did not start")
        atexit.register(self.close)

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()
            self.process.wait(30)
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, args: list[str], env: dict[str, str],
            timeout: float) -> subprocess.CompletedProcess[str]:
        """As subprocess.run([python, -m, gitops_agent, *args], capture_output=True,
        text=True, stdin=DEVNULL, env=env, timeout=timeout)."""
        command = [sys.executable, "-m", "gitops_agent", *args]
        umask = os.umask(0o022)
        os.umask(umask)
        request = {"args": args, "env": env, "cwd": os.getcwd(), "umask": umask}
        with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as stdout, \
                tempfile.TemporaryFile() as stderr, \
                socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
            connection.connect(self.path)
            socket.send_fds(connection, [json.dumps(request).encode()],
                            [stdin.fileno(), stdout.fileno(), stderr.fileno()])
            pid = int(connection.recv(64))
            connection.settimeout(timeout)
            try:
                code = int(connection.recv(64))
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)  # as subprocess.run: kill it, then raise
                connection.settimeout(None)
                connection.recv(64)
                raise subprocess.TimeoutExpired(command, timeout, *_read(stdout, stderr)) from None
            return subprocess.CompletedProcess(command, code, *_read(stdout, stderr))


_started: list[Launcher] = []


def run(args: list[str], env: dict[str, str],
        timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `python -m gitops_agent *args` warm; the launcher starts at the first call
    (and again if it ended)."""
    if not _started or _started[0].process.poll() is not None:
        _started[:] = [Launcher()]
    return _started[0].run(args, env, timeout)


def _read(*files: Any) -> list[str]:
    texts = []
    for file in files:
        file.seek(0)
        text = file.read().decode()  # and universal newlines, as text=True
        texts.append(text.replace("\r\n", "\n").replace("\r", "\n"))
    return texts


if __name__ == "__main__":
    serve(sys.argv[1])
