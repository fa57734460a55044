"""Load YAML and remember the line of every key and item, for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]
FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[Location, int]] = field(default_factory=list)

    def line_of(self, location: Location) -> int:
        """Line of the deepest known part of `location` (1 for the document itself)."""
        for end in range(len(location), 0, -1):
            if location[:end] in self.lines:
                return self.lines[location[:end]]
        return 1


class YamlSyntaxError(Exception):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: invalid YAML: {reason}")
        self.line = line


def _walk(node: yaml.Node, location: Location, document: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*location, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                document.duplicate_keys.append((child, line))
            seen.add(key)
            document.lines[child] = line
            _walk(value_node, child, document)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*location, index)
            document.lines[child] = item.start_mark.line + 1
            _walk(item, child, document)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse one YAML document (safe loader); raise YamlSyntaxError with the line."""
    try:
        loader = FastLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(path, line, str(error.problem or error)) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(path, 1, str(error)) from None
    document = YamlDocument(path=path, data=data)
    if node is not None:
        _walk(node, (), document)
    return document


def load_yaml(path: Path) -> YamlDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), path)
