"""Digests of the local files an app watches (`watch:`), kept in state between passes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1024 * 1024


def digest(path: str) -> str:
    """sha256 of the file's content, `missing`, `directory`, or `unreadable: <why>`."""
    target = Path(path)
    try:
        if target.is_dir():
            return "directory"
        hasher = hashlib.sha256()
        with target.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable: {error.strerror or error}"


def digests(paths: Iterable[str]) -> dict[str, str]:
    return {path: digest(path) for path in paths}
