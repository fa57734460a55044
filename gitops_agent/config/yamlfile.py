"""Load YAML and remember the line of every key and item, for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]
FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it
MAX_BYTES = 1024 * 1024  # a config file, an app file or a host's report
MAX_DEPTH = 64  # nesting: libyaml recurses, and segfaults on deep enough input
MAX_ALIASES = 100
MAX_NODES = 200_000  # the document as expanded by its aliases (no billion laughs)


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


def _check_shape(text: str) -> None:
    """Refuse a document too big, too deep or too aliased, before any recursive parser
    sees it. yaml.parse is an iterative event stream: it is safe on any input."""
    if len(text) > MAX_BYTES:
        raise yaml.YAMLError(f"the document is over {MAX_BYTES // 1024} KiB")
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.YAMLError(f"the document nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"the document uses more than {MAX_ALIASES} aliases")


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Nodes in the document once aliases are expanded (memoized: linear time)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(key, sizes) + _expanded_size(value, sizes)
                    for key, value in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = min(size, MAX_NODES + 1)
    return sizes[id(node)]


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """(node graph, data) of one bounded document; yaml.YAMLError over a bound."""
    _check_shape(text)
    loader = FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise yaml.YAMLError(f"the document expands to more than {MAX_NODES} nodes")
        return node, loader.construct_document(node) if node is not None else None
    except (ValueError, OverflowError, RecursionError) as error:
        # a value PyYAML cannot build (2026-13-45, a 5,000-digit int) or an alias cycle
        reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise yaml.YAMLError(f"a value cannot be read: {reason}") from None
    finally:
        loader.dispose()


def load_bounded(text: str) -> Any:
    """yaml.safe_load for text from outside (a host's report on a shared branch): bounded
    in size, depth and aliases; yaml.YAMLError when it is over a bound."""
    return _compose(text)[1]


def load_mapping(text: str | None) -> dict[Any, Any] | None:
    """load_bounded for text another host wrote: the mapping it holds, or None when it is
    empty, not YAML, over a bound, or not a mapping."""
    if not text:
        return None
    try:
        data = load_bounded(text)
    except (yaml.YAMLError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse one YAML document (safe loader, bounded); raise YamlSyntaxError with the line."""
    try:
        node, data = _compose(text)
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
