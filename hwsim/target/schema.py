"""The target JSON Schema and its Markdown reference, both generated from the pydantic models."""
from __future__ import annotations

import json
from typing import Any

from hwsim.target.target import Target


def schema() -> dict[str, Any]:
    s = Target.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "hwsim target"
    # target files may name a base target; the loader resolves it before validation
    s["properties"]["inherit"] = {"type": "string", "description": "Name of a base target whose fields this file overrides."}
    return s


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    return prop.get("type", "any")


def _default(value: Any) -> str:
    return "(see the model)" if isinstance(value, dict) else f"`{json.dumps(value)}`"


def reference_markdown() -> str:
    """One table per model: field, type, default, description."""
    s = schema()
    lines = ["# Target file reference", "", "Generated from the pydantic models by `python tools/gen_target_docs.py`; do not edit.", ""]
    models = {"Target": s, **s.get("$defs", {})}
    for name, model in models.items():
        lines += [f"## {name}", "", model.get("description", "").strip(), "", "| field | type | default | description |", "|---|---|---|---|"]
        required = set(model.get("required", []))
        for field, prop in model.get("properties", {}).items():
            default = "required" if field in required else _default(prop.get("default"))
            desc = prop.get("description", "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{field}` | {_type_of(prop)} | {default} | {desc} |")
        lines.append("")
    return "\n".join(lines)
