"""The git hosts' pinned keys in the agent's known_hosts: scanned with ssh-keyscan, or
taken from a known_hosts file the operator gives (air-gapped hosts); their fingerprints
are printed, to compare with the ones the git host publishes."""

from __future__ import annotations

import re
from pathlib import Path

from gitops_agent.errors import ConfigError, FatalError
from gitops_agent.execute import proc
from gitops_agent.record.state import write_atomically
from gitops_agent.setup.changes import Changes

HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*))"
                       r"(?::(?P<port>[0-9]{1,5}))?$")
SCP = re.compile(r"^(?:[^@/:]+@)?(?P<host>\[[^]/]+\]|[^:/\[]+):(?!//)")
SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://")
Target = tuple[str, int]  # host, port


def parse(spec: str, flag: str = "--git-host") -> Target:
    """HOST, HOST:PORT or [IPV6]:PORT."""
    found = HOST_PORT.match(spec)
    port = int(found["port"] or 22) if found else 0
    if not found or not 1 <= port <= 65535:
        raise ConfigError(f"{flag} {spec!r} is not HOST or HOST:PORT")
    return found["v6"] or found["name"], port


def ssh_target(url: str) -> Target | None:
    """The host and port an ssh URL (ssh://…, user@host:path) reaches; None for others."""
    if url.lower().startswith(SSH_SCHEMES):
        authority = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        return parse(authority, "the ssh host of") if authority else None
    if "://" in url or url.startswith(("/", ".", "~")):
        return None
    scp = SCP.match(url)
    return (scp["host"].strip("[]"), 22) if scp else None


def lookup(target: Target) -> str:
    """The name known_hosts files this host under."""
    host, port = target
    return host if port == 22 else f"[{host}]:{port}"


def ensure_file(changes: Changes, known_hosts: Path) -> None:
    """The file is there (the agent refuses a configured one that is not), mode 0644."""
    changes.leftovers(known_hosts.parent, f".{known_hosts.name}.*")
    if known_hosts.exists():
        changes.mode(known_hosts, 0o644)
    else:
        changes.file(known_hosts, "", 0o644)


def pin_scanned(changes: Changes, known_hosts: Path, target: Target) -> None:
    """`target`'s keys in `known_hosts`, scanned unless some are pinned already."""
    name = lookup(target)
    what = f"host key(s) of {name} in {known_hosts}"
    if known_hosts.exists() and _has(known_hosts, name):
        changes.unchanged(what)
        return
    if changes.dry_run:
        changes.change("pinned", f"{what} (ssh-keyscan)")
        return
    host, port = target
    done = proc.run(["ssh-keyscan", "-T", "10", "-p", str(port), "--", host], timeout=60)
    if done.rc == 127:
        raise FatalError("ssh-keyscan is missing: apt-get install openssh-client")
    lines = _keys(done.stdout)
    if not lines:
        raise FatalError(f"ssh-keyscan got no host key from {host} port {port}: give "
                         "--git-host HOST:PORT, or --known-hosts-file FILE with its keys if it "
                         "cannot be reached from here")
    changes.change("pinned", f"{what} (ssh-keyscan)")
    _append(known_hosts, lines)


def pin_from_file(changes: Changes, known_hosts: Path, source: Path) -> None:
    """The keys of the known_hosts file `source` added to `known_hosts`, once each."""
    try:
        lines = _keys(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise FatalError(f"--known-hosts-file {source}: cannot read it ({error})") from None
    if not lines or proc.run(["ssh-keygen", "-l", "-f", str(source)], timeout=30).rc != 0:
        raise FatalError(f"--known-hosts-file {source} has no host keys ssh can read")
    present = set(_keys(known_hosts.read_text(encoding="utf-8"))) if known_hosts.exists() \
        else set()
    new = [line for line in lines if line not in present]
    if not new:
        changes.unchanged(f"host keys of {source} in {known_hosts}")
    elif changes.change("pinned", f"{len(new)} host key(s) of {source} in {known_hosts}"):
        _append(known_hosts, new)


def fingerprints(known_hosts: Path, targets: list[Target]) -> list[str]:
    """`host TYPE SHA256:…` of each pinned key of `targets` (of every key without any)."""
    if not known_hosts.exists():
        return []
    if not targets:
        done = proc.run(["ssh-keygen", "-l", "-f", str(known_hosts)], timeout=30)
        return [line for line in done.stdout.splitlines() if line.strip()]
    found = []
    for target in targets:
        done = proc.run(["ssh-keygen", "-l", "-F", lookup(target), "-f", str(known_hosts)],
                        timeout=30)
        found += [line for line in done.stdout.splitlines()
                  if line.strip() and not line.startswith("#")]
    return found


def _has(known_hosts: Path, name: str) -> bool:
    return proc.run(["ssh-keygen", "-F", name, "-f", str(known_hosts)], timeout=30).rc == 0


def _keys(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()
            if len(line.split()) >= 3 and not line.lstrip().startswith("#")]


def _append(known_hosts: Path, lines: list[str]) -> None:
    before = known_hosts.read_text(encoding="utf-8") if known_hosts.exists() else ""
    if before and not before.endswith("\n"):
        before += "\n"
    write_atomically(known_hosts, before + "".join(f"{line}\n" for line in lines), mode=0o644)
