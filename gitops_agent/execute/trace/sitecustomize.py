"""Read tracer, loaded through PYTHONPATH into ansible-playbook and every Python it starts.

It notes each path under the traced roots that the process opened (`r`), probed with
stat/lstat/access (`p`) or listed (`l`), one line per path and kind, appended to
$GITOPS_TRACE_FILE (O_APPEND: the controller and its forked workers share it). The
agent turns these lines into the app's inputs after the run (execute/tracing.py).

$GITOPS_TRACE_ROOTS holds lines "<absolute prefix>\t<repo-relative prefix>": the config
checkout itself ("" prefix) and the agent's links into it (inventory group_vars/host_vars).

It must never break the traced process: any error disables it and leaves an `e` line,
which makes the agent treat the run's inputs as unknown (the app is applied next pass).
"""

import os
import sys


def _install() -> None:
    out = os.environ.get("GITOPS_TRACE_FILE")
    spec = os.environ.get("GITOPS_TRACE_ROOTS")
    if not out or not spec:
        return
    roots = []
    for line in spec.split("\n"):
        prefix, _, relative = line.partition("\t")
        if prefix:
            roots.append((prefix.rstrip("/"), relative.strip("/")))
    roots.sort(key=lambda root: -len(root[0]))  # the most specific link first
    noted: set = set()
    state = {"fd": -1, "on": True}
    fsdecode, abspath, normpath = os.fsdecode, os.path.abspath, os.path.normpath

    def write(line: str) -> None:
        if state["fd"] < 0:
            state["fd"] = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(state["fd"], line.encode("utf-8", "surrogateescape"))

    def note(kind: str, path: object) -> None:
        if not state["on"] or isinstance(path, int) or path is None:
            return
        try:
            text = normpath(abspath(fsdecode(path)))  # type: ignore[arg-type]
            for prefix, base in roots:
                if text == prefix or text.startswith(prefix + "/"):
                    rest = text[len(prefix) + 1:]
                    relative = f"{base}/{rest}".strip("/") if base else rest
                    break
            else:
                return
            if not relative or "\n" in relative or "\t" in relative:
                return
            if relative == ".git" or relative.startswith(".git/") or "__pycache__" in relative:
                return
            key = (kind, relative)
            if key in noted:
                return
            noted.add(key)
            write(f"{kind}\t{relative}\n")
        except Exception as error:  # never let tracing break the run
            state["on"] = False
            try:  # noqa: SIM105 (no contextlib import in every traced process)
                write(f"e\t{type(error).__name__}: {error}".replace("\n", " ") + "\n")
            except Exception:
                pass

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            note("r", args[0])
        elif event in ("os.listdir", "os.scandir"):
            note("l", args[0] if args and args[0] is not None else ".")

    def probing(function):  # type: ignore[no-untyped-def]
        def probe(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if not kwargs.get("dir_fd"):
                note("p", path)
            return function(path, *args, **kwargs)

        probe.__name__ = function.__name__
        probe.__doc__ = function.__doc__
        return probe

    os.stat = probing(os.stat)
    os.lstat = probing(os.lstat)
    os.access = probing(os.access)
    sys.addaudithook(audit)
    # The controller says so: a trace without its line (the file lost or replaced under
    # a running playbook) is not trusted. Its forked workers share its descriptor.
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    role = "controller" if program.startswith("ansible-playbook") else "helper"
    write(f"v\t1 {os.getpid()} {role}\n")


_install()
del _install
