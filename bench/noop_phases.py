"""One `gitops-agent run` in this process, with timers wrapped around the pass's main
functions in every thread; prints `phase<TAB>calls<TAB>seconds` lines for profile_noop.py.

    .venv/bin/python bench/noop_phases.py AGENT_CONFIG

Only the standard library is imported before the agent, so the imports figure is the
agent's own. A function not found (renamed) is reported as such, never a failure.
"""

import contextlib
import functools
import importlib
import io
import sys
import threading
import time

PHASES = [
    ("gitops_agent.cli", "load_agent_config"),
    ("gitops_agent.pass_", "Pass.run"),
    ("gitops_agent.observe.remotes", "list_remotes"),
    ("gitops_agent.observe.config_repo", "remote_head"),
    ("gitops_agent.execute.checkouts", "fetch_commit"),
    ("gitops_agent.execute.checkouts", "place"),
    ("gitops_agent.observe", "load_apps"),
    ("gitops_agent.observe", "observe"),
    ("gitops_agent.git", "ls_tree"),
    ("gitops_agent.pass_", "make_plan"),
    ("gitops_agent.execute.checkouts", "is_current"),
    ("gitops_agent.execute.scheduler", "run_in_order"),
    ("gitops_agent.pass_", "Pass._record"),
    ("gitops_agent.pass_", "save_state"),
    ("gitops_agent.pass_", "Pass._finish"),
    ("gitops_agent.pass_", "Pass._publish"),
    ("gitops_agent.publish.status", "publish"),
    ("gitops_agent.execute.housekeeping", "tidy"),
    ("gitops_agent.git", "run"),
]
totals: dict[str, tuple[int, float]] = {}
guard = threading.Lock()


def wrap(module_name: str, qualname: str) -> None:
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        owner = None
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part, None)
    original = getattr(owner, name, None)
    key = f"{module_name.removeprefix('gitops_agent.')}:{qualname}"
    if original is None:
        print(f"phase not found: {key}", file=sys.stderr)
        return

    @functools.wraps(original)
    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                calls, seconds = totals.get(key, (0, 0.0))
                totals[key] = (calls + 1, seconds + time.perf_counter() - began)

    setattr(owner, name, timed)


def main() -> None:
    start = time.perf_counter()
    import gitops_agent.cli as cli
    import gitops_agent.commands.run  # noqa: F401  (what `run` imports, timed here)

    print(f"imports (cli + commands.run)\t1\t{time.perf_counter() - start:.3f}")
    for module_name, qualname in PHASES:
        wrap(module_name, qualname)
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        cli.main(["run", "--config", sys.argv[1]], prog_name="gitops-agent")
    print(f"cli.main (the pass, after imports)\t1\t{time.perf_counter() - began:.3f}")
    for module_name, qualname in PHASES:  # in the pass's order
        key = f"{module_name.removeprefix('gitops_agent.')}:{qualname}"
        if key in totals:
            calls, seconds = totals[key]
            print(f"{key}\t{calls}\t{seconds:.3f}")


if __name__ == "__main__":
    main()
