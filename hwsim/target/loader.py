"""Find, read, resolve (``inherit:``) and validate target files. Only this module sees raw dicts."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hwsim.errors import TargetError
from hwsim.target.target import Target
from quant.yaml_lines import line_of

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"
_SUFFIXES = (".yaml", ".yml", ".json")


def targets_dir() -> Path:
    return Path(os.environ.get("HWSIM_TARGETS", TARGETS_DIR))


def target_names() -> list[str]:
    return sorted(p.stem for p in targets_dir().iterdir() if p.suffix in _SUFFIXES and p.stem != "schema")


def find(name_or_path: str | Path, *, relative_to: Path | None = None) -> Path:
    """A path as given, else a file of that name next to ``relative_to``, else in targets/."""
    p = Path(name_or_path)
    if p.suffix in _SUFFIXES or os.sep in str(name_or_path):
        if p.is_file():
            return p
        raise TargetError(f"{p}: no such target file; give a path to a .yaml file or a name from `hwsim target list`")
    for folder in ([relative_to] if relative_to else []) + [targets_dir()]:
        for suffix in _SUFFIXES:
            candidate = folder / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    raise TargetError(
        f"target '{name_or_path}' not found; known targets: {', '.join(target_names())} (or give a path to a .yaml file)"
    )


def _read(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TargetError(f"{path}: not a UTF-8 text file; a target is YAML or JSON") from None
    except OSError as e:
        raise TargetError(f"{path}: cannot read the target ({e.strerror})") from None
    try:
        if path.suffix == ".json":
            data, node = json.loads(text), None
        else:
            node = yaml.compose(text)
            data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TargetError(f"{path}:{where}: YAML syntax error: {e.problem}; fix the file's syntax") from None
    except json.JSONDecodeError as e:
        raise TargetError(f"{path}: line {e.lineno}: JSON syntax error: {e.msg}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{path}: a target file must be a mapping of fields (name, compute, memory, ...), not {type(data).__name__}")
    return data, node


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; lists and scalars in ``override`` replace the base's."""
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw dict of a target with its ``inherit:`` chain applied."""
    path = path.resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise TargetError(f"{_chain[0]}: inherit: cycle {cycle}; remove one of the inherit lines")
    data, _ = _read(path)
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise TargetError(f"{path}: inherit: expected the name of a base target, got {parent!r}")
    try:
        base_path = find(parent, relative_to=path.parent)
    except TargetError:
        raise TargetError(f"{path}: inherit: base target '{parent}' not found in {path.parent} or {targets_dir()}") from None
    base = resolve(base_path, (*_chain, path))
    base.pop("sources", None)  # a derived target states its own sources below; base ones are merged explicitly
    base_sources = resolve_sources(base_path)
    merged = _merge(base, data)
    own = list(data.get("sources", []) or [])
    restated = {s.get("field") for s in own if isinstance(s, dict)}
    # a derived target's source for a field replaces the base's for the same field
    merged["sources"] = [s for s in base_sources if not (isinstance(s, dict) and s.get("field") in restated)] + own
    return merged


def resolve_sources(path: Path) -> list[Any]:
    data, _ = _read(path.resolve())
    own = list(data.get("sources", []) or [])
    parent = data.get("inherit")
    if isinstance(parent, str):
        try:
            return resolve_sources(find(parent, relative_to=path.parent)) + own
        except (TargetError, RecursionError):
            return own
    return own


def format_validation_error(path: Path, err: ValidationError, node: yaml.Node | None = None) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        if not loc and (e.get("ctx") or {}).get("field"):  # a cross-field rule names its field
            field = e["ctx"]["field"]
            loc, msg = tuple(int(p) if p.isdigit() else p for p in field.split(".")), msg.removeprefix(f"{field}: ")
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(node, loc)
        if e["type"] == "extra_forbidden":
            msg = "unknown field; see `hwsim target schema` for the fields a target may have"
        parts.append(f"{field}{f' (line {line})' if line else ''}: {msg}")
    return f"{path}: " + "; ".join(parts)


def load(name_or_path: str | Path) -> Target:
    """Load, resolve and validate a target by name (targets/) or path."""
    path = find(name_or_path)
    raw = resolve(path)
    try:
        return Target.model_validate(raw)
    except ValidationError as e:
        _, node = _read(path)
        raise TargetError(format_validation_error(path, e, node)) from None


def load_all() -> list[Target]:
    return [load(n) for n in target_names()]
