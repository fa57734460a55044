#!/usr/bin/env python3
"""The no-op pass: `gitops-agent run` when nothing changed, against
`ansible-pull --only-if-changed`, for 1 app and for 20; and what the agent adds to a
pass that applies exactly one app.

    .venv/bin/python bench/bench_noop.py              # ~4-5 min on 2 idle cores
    .venv/bin/python bench/bench_noop.py --quick      # 1 app, once each: the CI version
    .venv/bin/python bench/bench_noop.py --profile    # + where a no-op pass's time goes

Targets: ansible-pull's no-op costs >= 5x the agent's for one app, >= 50x over 20 apps.
Every timed no-op is checked to be one: for the agent, every app `unchanged`, no new
run_id in state.json, the playbooks' files untouched, no new status commit; for
ansible-pull, "Repository has not changed, quitting" every time and the files untouched.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import figures
import fixtures
from figures import Samples, figure, note, plural
from fixtures import BenchError, Host, Sandbox

# every run writes new content (a timestamp), so a playbook that ran shows in the mtime
PLAYBOOK = """\
- name: Bench app
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the marker file
      ansible.builtin.copy:
        dest: "{{ bench_out }}"
        content: >-
          {{ gitops_source_commit | default('-') }}
          {{ now(fmt='%Y-%m-%dT%H:%M:%S.%f') }}
        mode: "0644"
"""
TARGETS = {1: 5.0, 20: 50.0}  # app count -> ansible-pull / agent ratio to reach


def build(box: Sandbox, apps: int) -> Host:
    root = box.root / f"host-{apps}"  # build_host makes it, and its out/ for the playbooks
    return fixtures.build_host(root, apps, PLAYBOOK, app_vars=lambda name: {
        "bench_out": str(root / "out" / f"{name}.txt")})


def agent_noop(box: Sandbox, host: Host, repeat: int) -> dict[str, Samples]:
    """One pass applies everything, one more makes the report steady, then `repeat`
    timed no-op passes, and `repeat` more with --no-push."""
    box.agent("run", config=host.agent_config)
    if {app["state"] for app in host.state()["apps"].values()} != {"applied"}:
        raise BenchError(f"the first pass did not apply every app: {host.state()['apps']}")
    box.agent("run", config=host.agent_config)
    before = host.outputs(), host.run_ids(), host.config.tip(fixtures.STATUS_BRANCH)
    if before[2] is None:
        raise BenchError(f"the agent pushed no report to {fixtures.STATUS_BRANCH}")
    label = f"agent no-op, {plural(len(host.apps), 'app')}"
    results = {label: Samples(), f"{label}, --no-push": Samples()}
    for flags, samples in zip(((), ("--no-push",)), results.values(), strict=True):
        for _ in range(repeat):
            with samples.measure():
                done = box.agent("run", *flags, config=host.agent_config)
            states = [line.split()[1] for line in done.stdout.splitlines() if line.strip()]
            if states != ["unchanged"] * len(host.apps):
                raise BenchError(f"a no-op pass did not say unchanged:\n{done.stdout}")
    if (host.outputs(), host.run_ids(), host.config.tip(fixtures.STATUS_BRANCH)) != before:
        raise BenchError("a timed no-op pass ran a playbook, started a run or pushed")
    return results


def pull_noop(box: Sandbox, host: Host, repeat: int) -> dict[str, Samples]:
    """ansible-pull for each app, its own checkout and playbook: once to clone and apply
    (untimed, 4 at a time), then the whole loop over the apps timed `repeat` times."""
    inventory = box.root / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local "
                         f"ansible_python_interpreter={sys.executable}\n")
    out = box.root / f"pull-out-{len(host.apps)}"
    out.mkdir()

    def pull(name: str) -> str:
        return box.run([str(fixtures.VENV_BIN / "ansible-pull"), "-U", host.config.url,
                        "-C", "main", "-d", str(box.root / f"pull-{len(host.apps)}" / name),
                        "-i", str(inventory), "--only-if-changed",
                        "-e", f"bench_out={out / (name + '.txt')}",
                        f"playbooks/{name}.yml"]).stdout

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(pull, host.names))
    before = host.outputs(out)
    if len(before) != len(host.apps):
        raise BenchError("ansible-pull's first run did not write every file")
    samples, quits = Samples(), 0
    for _ in range(repeat):
        with samples.measure():
            for name in host.names:
                quits += "Repository has not changed, quitting" in pull(name)
    if quits != repeat * len(host.apps) or host.outputs(out) != before:
        raise BenchError("ansible-pull ran a playbook on a no-op: the comparison is unfair")
    loop = f" (loop of {len(host.apps)})" if len(host.apps) > 1 else ""
    return {f"ansible-pull no-op, {plural(len(host.apps), 'app')}{loop}": samples}


def overhead(box: Sandbox, host: Host, repeat: int) -> None:
    """A commit to one app's source, one timed pass: wall minus the run's `duration`."""
    target, walls, runs = host.names[0], [], []
    for attempt in range(repeat):
        before = host.run_ids()
        host.change_source(target, f"{attempt + 1}\n")
        start = time.perf_counter()
        box.agent("run", config=host.agent_config)
        walls.append(time.perf_counter() - start)
        after = host.run_ids()
        if [name for name in after if after[name] != before[name]] != [target]:
            raise BenchError(f"expected {target} alone applied: {host.state()['apps']}")
        runs.append(float(host.state()["apps"][target]["duration"]))
    status = json.loads(box.agent("status", "--json", config=host.agent_config).stdout)
    if abs(float(status["apps"][target]["duration"]) - runs[-1]) > 1e-6:
        raise BenchError("`gitops-agent status --json` and state.json disagree on duration")
    costs = sorted(wall - duration for wall, duration in zip(walls, runs, strict=True))
    figure(f"agent overhead, pass applying 1 of {plural(len(host.apps), 'app')}",
           f"{costs[len(costs) // 2]:.3f}", "s median",
           f"min {costs[0]:.3f} s; wall {sorted(walls)[len(walls) // 2]:.3f} s, "
           f"run duration {sorted(runs)[len(runs) // 2]:.3f} s, n={repeat}")


def ratio(apps: int, agent: tuple[str, Samples], pull: tuple[str, Samples]) -> None:
    (agent_label, fast), (_, slow) = agent, pull
    value = slow.median / fast.median
    target = TARGETS[apps]
    cpu = statistics.median(slow.cpu) / statistics.median(fast.cpu)
    figure(f"ratio ansible-pull / {agent_label}", f"{value:.1f}", "x on medians",
           f"{min(slow.wall) / min(fast.wall):.1f} x on minimums, {cpu:.1f} x on median CPU; "
           f"target >= {target:.0f} x: {'met' if value >= target else 'MISSED'}")


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=10, metavar="N",
                        help="timed no-op passes per agent case and ansible-pull runs for "
                             "1 app (default 10)")
    parser.add_argument("--pull-loop-repeat", type=int, metavar="M",
                        help="timed runs of the loop of 20 ansible-pulls, ~40-60 s each "
                             "(default: min(N, 2))")
    parser.add_argument("--overhead-repeat", type=int, default=3, metavar="K",
                        help="timed passes applying one app, per case (default 3)")
    parser.add_argument("--profile", action="store_true",
                        help="then break one no-op pass down (bench/profile_noop.py)")
    parser.add_argument("--quick", action="store_true",
                        help="1 app only, each measured once (~20 s): the CI version")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    if args.quick:
        args.repeat = args.overhead_repeat = 1
    pull_repeat = args.pull_loop_repeat or min(args.repeat, 2)
    started, load = figures.begin()
    try:
        with Sandbox("bench-noop", args.keep) as box:
            for apps in (1,) if args.quick else (1, 20):
                note(f"{plural(apps, 'app')}: the agent, then ansible-pull")
                host = build(box, apps)
                agent = agent_noop(box, host, args.repeat)
                pull = pull_noop(box, host, args.repeat if apps == 1 else pull_repeat)
                for label, samples in (agent | pull).items():
                    samples.show(label)
                for case in agent.items():
                    ratio(apps, case, next(iter(pull.items())))
                overhead(box, host, args.overhead_repeat)
                if args.profile:
                    import profile_noop

                    profile_noop.profile(box, host, args.repeat)
    except BenchError as error:
        note(f"bench_noop: {error}")
        return 1
    figures.finish(__file__, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
