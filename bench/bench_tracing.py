"""What the read tracer costs an apply: the same playbook run through the agent's runner
with and without tracing, interleaved, median of N each.

    .venv/bin/python bench/bench_tracing.py            # N=9, ~1 min on 2 cores
    .venv/bin/python bench/bench_tracing.py --repeat 3 # the short version CI runs

The playbook is a realistic small one: a role with defaults, a meta dependency, two
templates, vars_files, a lookup, a loop of 10 files and a handler (15 task results).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
      loop: "{{ range(10) | list }}"
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


def one(root: Path, trace: bool, index: int) -> float:
    out = root / "out" / str(index)
    out.mkdir(parents=True)
    request = RunRequest(app="bench", playbook=root / "config/playbooks/site.yml",
                         config_dir=root / "config", run_dir=root / "runs",
                         host="bench-host", extravars={"out": str(out)}, timeout=300,
                         trace=trace)
    began = time.perf_counter()
    result = run_playbook(request)
    elapsed = time.perf_counter() - began
    if not result.outcome.ok or (trace and result.reads is None):
        raise SystemExit(f"bench run failed: {result.outcome.message}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as temporary:
        root = Path(temporary)
        for path, text in FILES.items():
            target = root / "config" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        one(root, True, -1)  # warm caches
        plain, traced = [], []
        for index in range(repeat):
            plain.append(one(root, False, 2 * index))
            traced.append(one(root, True, 2 * index + 1))
    without, with_ = statistics.median(plain), statistics.median(traced)
    print(f"apply without tracing: median {without:.3f}s of {repeat} "
          f"(min {min(plain):.3f}s)")
    print(f"apply with tracing:    median {with_:.3f}s of {repeat} "
          f"(min {min(traced):.3f}s)")
    print(f"overhead: {100 * (with_ - without) / without:+.1f}% (median), "
          f"{100 * (min(traced) - min(plain)) / min(plain):+.1f}% (min)")
    print(f"reproduce: .venv/bin/python bench/bench_tracing.py --repeat {repeat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
