"""Git URLs checked at the boundary: what git could be tricked with is refused."""

from __future__ import annotations

import re

from gitops_agent.errors import ConfigError
from gitops_agent.git_reason import redact

_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*:(?!//).+$")
_AUTHORITY = re.compile(r"^[a-z+]+://(?:[^@/]*@)?(?P<host>[^/]*)")


def validate_url(url: str) -> None:
    """Refuse URLs git could be tricked with; accept ssh, https, file and local paths. The
    refusal shows the URL without its credentials (a password may hold a `$`)."""
    shown = redact(url)
    if (not url or url.startswith("-") or "::" in url
            or any(c in "$`" or ord(c) <= 0x20 or ord(c) == 0x7F for c in url)):
        raise ConfigError(f"refusing git URL {shown!r}: it must be an ssh, https, file URL or "
                          "a path")
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in ("ssh", "https", "file", "git+ssh", "ssh+git"):
            raise ConfigError(f"refusing git URL {shown!r}: the {scheme} transport is not allowed")
        authority = _AUTHORITY.match(url.lower())
        if authority and authority.group("host").startswith(("-", "[-")):
            raise ConfigError(f"refusing git URL {shown!r}: a host may not start with '-'")
        return
    if url.startswith(("/", "./", "../", "~")) or _SCP_LIKE.match(url):
        return
    raise ConfigError(f"refusing git URL {shown!r}: it must be an ssh, https, file URL or a path")
