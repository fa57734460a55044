"""Loaded through PYTHONPATH into ansible-playbook and every Python it starts: a larger
threshold for the garbage collector, and (when the run is traced) the read tracer.

Each Python of a run (the controller, its forked workers, each module) builds tens of
thousands of objects as it starts: Ansible's config, its plugins and their docs, the
playbook. CPython's collector looks for cycles every 700 new objects and finds almost
nothing; every 10,000 costs a run ~3 % less CPU (docs/benchmarks.md) and holds at most
a few MB more between collections.

The tracer notes each path under the traced roots that the process opened (`r`),
probed with stat/lstat/access (`p`) or listed (`l`), one line per path and kind,
appended to $GITOPS_TRACE_FILE (O_APPEND: the controller and its forked workers share
it). A path reached through a symlink is noted under its link and under its real path,
so a change to either is seen. The agent turns these lines into the app's inputs after
the run (execute/tracing.py).

$GITOPS_TRACE_ROOTS holds lines "<absolute prefix>\t<repo-relative prefix>": the config
checkout itself ("" prefix), the agent's links into it (inventory group_vars/host_vars)
and the agent's shipped content ("@shipped").

It must never break the traced process: any error disables it and leaves an `e` line,
which makes the agent treat the run's inputs as unknown (the app is applied next pass).
Another sitecustomize on the path (a distribution's) still runs after it.
"""

import gc
import os
import stat
import sys

gc.set_threshold(10_000, 10, 10)


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
    original_lstat, readlink = os.lstat, os.readlink

    def write(line: str) -> None:
        if state["fd"] < 0:
            state["fd"] = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(state["fd"], line.encode("utf-8", "surrogateescape"))

    def relative_of(text: str):  # type: ignore[no-untyped-def]
        for prefix, base in roots:
            if text == prefix or text.startswith(prefix + "/"):
                rest = text[len(prefix) + 1:]
                return f"{base}/{rest}".strip("/") if base else rest
        return None

    def resolve(text: str):  # type: ignore[no-untyped-def]
        """os.path.realpath with the unwrapped lstat (no recursion into note)."""
        parts = text.split("/")[1:]
        current, hops, index = "", 0, 0
        while index < len(parts):
            part = parts[index]
            index += 1
            if part in ("", "."):
                continue
            if part == "..":
                current = current.rpartition("/")[0]
                continue
            candidate = f"{current}/{part}"
            try:
                is_link = stat.S_ISLNK(original_lstat(candidate).st_mode)
            except OSError:
                is_link = False
            if not is_link:
                current = candidate
                continue
            hops += 1
            if hops > 40:
                return None
            target = readlink(candidate)
            if target.startswith("/"):
                current = ""
            parts[index:index] = target.split("/")
        return current or "/"

    def record(kind: str, relative: str) -> None:
        if not relative or "\n" in relative or "\t" in relative:
            return
        if relative == ".git" or relative.startswith(".git/") or "__pycache__" in relative:
            return
        key = (kind, relative)
        if key not in noted:
            noted.add(key)
            write(f"{kind}\t{relative}\n")

    def note(kind: str, path: object) -> None:
        if not state["on"] or isinstance(path, int) or path is None:
            return
        try:
            text = normpath(abspath(fsdecode(path)))  # type: ignore[arg-type]
            relative = relative_of(text)
            if relative is None:
                return
            record(kind, relative)
            real = resolve(text)
            if real is None:
                record("e", f"symlink loop at {relative}")
            elif real != text:
                resolved = relative_of(real)
                if resolved is not None:
                    record(kind, resolved)
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

    def probing(name: str) -> None:
        function = getattr(os, name)

        def probe(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if not kwargs.get("dir_fd"):
                note("p", path)
            return function(path, *args, **kwargs)

        probe.__name__, probe.__doc__ = function.__name__, function.__doc__
        setattr(os, name, probe)
        # keep what os says each function supports: shutil.rmtree picks its symlink-safe
        # implementation only when os.stat/lstat are in these sets
        for supported in (os.supports_dir_fd, os.supports_fd, os.supports_follow_symlinks,
                          os.supports_effective_ids):
            if function in supported:
                supported.add(probe)

    for name in ("stat", "lstat", "access"):
        probing(name)
    sys.addaudithook(audit)
    # The controller says so: a trace without its line (the file lost or replaced under
    # a running playbook) is not trusted. Its forked workers share its descriptor.
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    role = "controller" if program.startswith("ansible-playbook") else "helper"
    write(f"v\t1 {os.getpid()} {role}\n")


def _chain() -> None:
    """Run the next sitecustomize on the path, which this module hides."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.abspath(entry or ".") != here and os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as stream:
                code = compile(stream.read(), candidate, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": candidate})
            return


_install()
_chain()
del _install, _chain
