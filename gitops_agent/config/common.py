"""Helpers shared by the agent-config and app-file loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_agent.config.urls import validate_url
from gitops_agent.config.yamlfile import YamlDocument, YamlSyntaxError, load_yaml
from gitops_agent.errors import ConfigError


def load_document(path: Path) -> YamlDocument:
    try:
        document = load_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except (YamlSyntaxError, OSError) as error:
        raise ConfigError(str(error)) from None
    if document.data is None:
        document.data = {}
    return document


def raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems[0], problems)


def get(data: Any, *keys: str) -> Any:
    """data[k1][k2]… or None when any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def stringify(labels: dict[str, Any]) -> dict[str, str]:
    return {str(key): str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in labels.items()}


def check_url(document: YamlDocument, location: tuple[str, ...], url: Any) -> list[str]:
    if not isinstance(url, str):
        return []
    try:
        validate_url(url)
    except ConfigError as error:
        return [f"{document.path}:{document.line_of(location)}: {'.'.join(location)}: {error}"]
    return []


