#!/usr/bin/env python3
"""What the read tracer costs an apply: the same playbook run through the agent's runner
with and without tracing, interleaved, median of N each.

    .venv/bin/python bench/bench_tracing.py             # N=9, ~3 min on 2 cores
    .venv/bin/python bench/bench_tracing.py --quick     # 1 each, 1 file, no warm-up: the CI version

The playbook is a realistic small one: a role with defaults, a meta dependency, two
templates, vars_files, a lookup, a loop of 10 files and a handler (15 task results).
A first, untimed run with tracing warms the caches.
"""

from __future__ import annotations

import time
from pathlib import Path

import figures
import fixtures
from figures import Samples, figure
from fixtures import Sandbox

from gitops_agent.execute.runner import RunRequest, run_playbook

FILES = {
    "playbooks/site.yml": """\
- hosts: all
  gather_facts: false
  vars_files: [vars/site.yml]
  roles: [web]
  tasks:
    - name: Banner from a lookup
      ansible.builtin.copy:
        content: "{{ lookup('file', 'files/banner.txt') }}"
        dest: "{{ out }}/banner.txt"
    - name: Ten small files
      ansible.builtin.copy:
        content: "file {{ item }}\\n"
        dest: "{{ out }}/file-{{ item }}.txt"
      loop: "{{ range(files | int) | list }}"
""",
    "playbooks/vars/site.yml": "site_name: bench\n",
    "playbooks/files/banner.txt": "welcome\n",
    "roles/web/defaults/main.yml": "web_port: 8080\n",
    "roles/web/meta/main.yml": "dependencies: [common]\n",
    "roles/web/tasks/main.yml": """\
- name: Site config
  ansible.builtin.template: {src: site.conf.j2, dest: "{{ out }}/site.conf"}
  notify: Reload
- name: Env file
  ansible.builtin.template: {src: env.j2, dest: "{{ out }}/env"}
""",
    "roles/web/templates/site.conf.j2": "listen {{ web_port }} {{ site_name }}\n",
    "roles/web/templates/env.j2": "PORT={{ web_port }}\n",
    "roles/web/handlers/main.yml": """\
- name: Reload
  ansible.builtin.command: "true"
  changed_when: false
""",
    "roles/common/tasks/main.yml": """\
- name: Common marker
  ansible.builtin.copy: {content: "common\\n", dest: "{{ out }}/common"}
""",
}


def one(root: Path, trace: bool, index: int, files: int = 10) -> float:
    out = root / "out" / str(index)
    out.mkdir(parents=True)
    request = RunRequest(app="bench", playbook=root / "config/playbooks/site.yml",
                         config_dir=root / "config", run_dir=root / "runs",
                         host="bench-host", extravars={"out": str(out), "files": files},
                         timeout=300, trace=trace)
    began = time.perf_counter()
    result = run_playbook(request)
    elapsed = time.perf_counter() - began
    if not result.outcome.ok or (trace and result.reads is None):
        raise fixtures.BenchError(f"bench run failed: {result.outcome.message}")
    return elapsed


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=9, metavar="N",
                        help="timed runs with and without tracing (default 9)")
    parser.add_argument("--quick", action="store_true",
                        help="one run each, no warm-up, a loop of 1 file: the CI version")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    files = 1 if args.quick else 10
    started, load = figures.begin()
    plain, traced = Samples(), Samples()
    with Sandbox("bench-tracing") as box:
        box.isolate()  # the runner starts ansible-playbook with os.environ
        fixtures.write_files(box.root / "config", FILES)
        if not args.quick:
            one(box.root, True, -1)
        for index in range(repeat):
            plain.wall.append(one(box.root, False, 2 * index, files))
            traced.wall.append(one(box.root, True, 2 * index + 1, files))
    plain.show("apply without tracing")
    traced.show("apply with tracing")
    median, least = traced.median / plain.median - 1, min(traced.wall) / min(plain.wall) - 1
    figure("tracing overhead", f"{100 * median:+.1f}", "% on medians",
           f"{100 * least:+.1f} % on minimums, n={repeat}")
    figures.finish(__file__, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
