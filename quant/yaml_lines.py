"""Where a field sits in a YAML file, so that a validation error can name the line to fix."""
from __future__ import annotations

from typing import Any

import yaml


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the value at ``loc`` (a pydantic error location) in a composed YAML tree;
    the deepest line found when the location runs past what the file spells out."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None
