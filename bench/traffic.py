"""What a git call of the agent receives, counted at the client: for bench_fleet.py and
bench_waves.py.

GIT_TRACE_PACKET: every pkt-line the client side traced as received (`fetch<`, `push<`,
`git<`, `sideband<`; the server's own upload-pack/receive-pack lines left out) counts
its 4-byte length, its payload and the newline git drops from the trace; flush and
delimiter packets count 4; a sideband packet only its 5-byte header, since git traces
its pkt-lines again as it reads them. GIT_TRACE_PACKFILE: the pack data. on_the_wire()
checks that arithmetic: the same call over ssh:// through a stand-in `ssh` that counts
the bytes the remote git writes.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from figures import figure
from fixtures import git as sh_git
from fleet_sim import Fleet, parse_iso

from gitops_agent import git

SERVER_SIDES = ("upload-pack", "receive-pack", "upload-archive")


def received(trace: Path, pack: Path) -> dict[str, int]:
    """Bytes the client received, from GIT_TRACE_PACKET (pkt-lines traced `<` by the
    client's side, not the server's) and GIT_TRACE_PACKFILE (raw pack data)."""
    lines = 0
    text = trace.read_text(errors="replace") if trace.exists() else ""
    for match in re.finditer(r"packet:\s+([\w-]+)< (.*)", text):
        identity, payload = match[1], match[2]
        if identity in SERVER_SIDES or payload == "PACK ...":  # pack: from the pack trace
            continue
        if payload in ("0000", "0001", "0002"):
            lines += 4  # flush, delim, response-end
        elif identity == "sideband":
            # a band-1 packet's pkt-lines are traced again, one by one, as the client
            # reads them: count those, plus this packet's length and band byte
            lines += 5
        else:  # a traced \ooo is one byte; git drops the newline from the trace
            lines += 4 + len(re.sub(r"\\[0-7]{1,3}", "x", payload)) + 1
    packed = pack.stat().st_size if pack.exists() else 0
    return {"lines": lines, "pack": packed, "total": lines + packed}


def traced(root: Path, call: Any, config: dict[str, str] | None = None) -> dict[str, int]:
    """call() with packet tracing on (and `config` given to git through GIT_CONFIG_*);
    what the client received. Only one call at a time: os.environ is the process's."""
    root.mkdir(parents=True, exist_ok=True)
    index = len(list(root.glob("*.trace")))
    trace, pack = root / f"{index}.trace", root / f"{index}.pack"
    extra = {"GIT_TRACE_PACKET": str(trace), "GIT_TRACE_PACKFILE": str(pack)}
    for number, (key, value) in enumerate((config or {}).items()):
        extra |= {f"GIT_CONFIG_KEY_{number}": key, f"GIT_CONFIG_VALUE_{number}": value}
    extra["GIT_CONFIG_COUNT"] = str(len(config or {}))
    os.environ.update(extra)
    try:
        call()
    finally:
        for key in extra:
            os.environ.pop(key, None)
    return received(trace, pack)


WIRE = """#!{python}
import os, subprocess, sys
child = subprocess.Popen(["sh", "-c", sys.argv[-1]], stdout=subprocess.PIPE)
count = 0
while chunk := child.stdout.read1(65536):
    count += len(chunk)
    os.write(1, chunk)
with open({log!r}, "a") as log:
    log.write(f"{{count}}\\n")
sys.exit(child.wait())
"""


def on_the_wire(root: Path, fleet: Fleet, call: Any) -> int:
    """call() with the fleet reached over ssh://, `ssh` being a local stand-in that
    counts the bytes the remote git sends back: a check on the traces' arithmetic."""
    shim, log = root / "wire", root / "wire.log"
    if not shim.exists():
        shim.mkdir(parents=True)
        (shim / "ssh").write_text(WIRE.format(python=sys.executable, log=str(log)))
        (shim / "ssh").chmod(0o755)
    log.write_text("")
    url, path = fleet.url, os.environ["PATH"]
    fleet.url, os.environ["PATH"] = f"ssh://bench{fleet.bare}", f"{shim}:{path}"
    try:
        call()
    finally:
        fleet.url, os.environ["PATH"] = url, path
    return sum(int(line) for line in log.read_text().split())


def noop_bytes(fleet: Fleet, traces: Path, samples: int) -> dict[str, Any]:
    """What one no-op pass receives, per host: remote_head, then publish ('unchanged')."""
    head, publish, v0 = [], [], []
    for host in fleet.hosts[:samples]:
        fleet.head(host)  # a warm checkout, as after the host's first pass
        when = parse_iso(fleet.expected[host]["last_pass"]) + timedelta(seconds=1)
        head.append(traced(traces, lambda host=host: fleet.head(host)))
        outcomes: list[str] = []
        publish.append(traced(traces, lambda host=host, when=when, outcomes=outcomes:
                              outcomes.append(fleet.publish(host, when))))
        if outcomes != ["unchanged"]:
            raise RuntimeError(f"{host}: a no-op pass published: {outcomes}")
        v0.append(traced(traces, lambda host=host: fleet.head(host), {"protocol.version": "0"}))

    def mean(rows: list[dict[str, int]], key: str) -> int:
        return round(sum(row[key] for row in rows) / len(rows))

    host = fleet.hosts[0]
    when = parse_iso(fleet.expected[host]["last_pass"]) + timedelta(seconds=2)
    pushes = {version: traced(traces, lambda: fleet.publish(host, when, change=True),
                              {"protocol.version": version})["total"] for version in "20"}
    clones = {name: traced(traces, lambda name=name, options=options: sh_git(
        "clone", "-q", "--no-local", "--no-checkout", *options, fleet.url,
        str(traces / name)))["total"]
        for name, options in (("clone", []), ("clone_main", ["--single-branch"]))}
    wire_head = on_the_wire(traces, fleet, lambda: fleet.head(host))
    wire_push = on_the_wire(traces, fleet, lambda: fleet.publish(host, when, change=True))
    return {"branches": len(fleet.hosts), "samples": len(head),
            "head_lines": mean(head, "lines"), "head_pack": mean(head, "pack"),
            "publish": mean(publish, "total"),
            "noop_total": mean(head, "total") + mean(publish, "total"),
            "head_v0": mean(v0, "total"),
            "ls_remote": traced(traces, lambda: git.ls_remote(fleet.url, fleet.auth))["total"],
            "push_v2": pushes["2"], "push_v0": pushes["0"], **clones,
            "wire_head": wire_head, "wire_push": wire_push}


def show(row: dict[str, Any]) -> None:
    """noop_bytes' figures, one line each."""
    where, mean = f"{row['branches']} branches", f"mean of {row['samples']} hosts"
    for key, what, details in (
            ("noop_total", "no-op pass (remote_head + publish)", mean),
            ("head_lines", "remote_head, pkt-lines", mean),
            ("head_pack", "remote_head, pack", mean),
            ("publish", "publish -> unchanged", mean),
            ("head_v0", "remote_head under protocol v0", mean),
            ("ls_remote", "git ls-remote (the old way)", ""),
            ("push_v2", "one report push, protocol v2", ""),
            ("push_v0", "one report push, protocol v0", ""),
            ("clone", "git clone (every branch)", ""),
            ("clone_main", "git clone --single-branch (main)", ""),
            ("wire_head", "remote_head, at the transport", "the check on the traces"),
            ("wire_push", "one report push, at the transport", "the check on the traces")):
        figure(f"bytes received, {what}, {where}", row[key], "bytes", details)
