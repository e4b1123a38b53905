"""A form for any tool, generated from its input JSON schema, and the form's answers turned into arguments.

Plain fields for strings, numbers, integers, booleans and enums; a JSON text
area for anything else (objects, arrays, unions). The tool itself validates the
arguments (the same way as over MCP); this only converts what a browser sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from butlers.dashboard.params import BadParameterError

SIMPLE = {"string": "text", "integer": "number", "number": "number", "boolean": "checkbox"}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | number | checkbox | select | json
    required: bool
    description: str
    options: tuple[str, ...] = ()
    default: str = ""
    step: str = "any"


def _type_of(spec: dict[str, Any]) -> str | None:
    """The one JSON type of a property, also for `X | None` (anyOf with null)."""
    kind = spec.get("type")
    if isinstance(kind, str):
        return kind
    variants = [v for v in spec.get("anyOf", []) if v.get("type") != "null"]
    if len(variants) == 1 and isinstance(variants[0].get("type"), str) and "enum" not in variants[0]:
        return str(variants[0]["type"])
    return None


def _enum_of(spec: dict[str, Any]) -> list[Any] | None:
    if "enum" in spec:
        return list(spec["enum"])
    variants = [v for v in spec.get("anyOf", []) if v.get("type") != "null"]
    return list(variants[0]["enum"]) if len(variants) == 1 and "enum" in variants[0] else None


def fields_of(schema: dict[str, Any]) -> list[Field]:
    """The form fields of a tool's input schema, in the schema's order."""
    required = set(schema.get("required", []))
    out = []
    for name, spec in (schema.get("properties") or {}).items():
        enum, kind = _enum_of(spec), _type_of(spec)
        default = spec.get("default")
        shown = "" if default is None else (default if isinstance(default, str) else json.dumps(default))
        common = {"name": name, "required": name in required, "description": str(spec.get("description", ""))}
        if enum is not None:
            out.append(Field(kind="select", options=tuple(str(v) for v in enum), default=shown, **common))
        elif kind in SIMPLE:
            step = "1" if kind == "integer" else "any"
            out.append(Field(kind=SIMPLE[kind], default=shown, step=step, **common))
        else:
            out.append(Field(kind="json", default=shown, **common))
    return out


def arguments(schema: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The tool's arguments from a submitted form; an empty optional field is left out."""
    args: dict[str, Any] = {}
    for field in fields_of(schema):
        raw = form.get(field.name, "")
        if field.kind == "checkbox":  # a browser sends an unticked box as nothing
            args[field.name] = raw in ("on", "true", "1")
            continue
        if raw == "" and not field.required:
            continue
        args[field.name] = _convert(field, raw, schema["properties"][field.name])
    return args


def _convert(field: Field, raw: str, spec: dict[str, Any]) -> Any:
    kind = _type_of(spec)
    try:
        if field.kind == "json":
            return json.loads(raw)
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError as exc:
        what = {"json": "valid JSON"}.get(field.kind) or ("an integer" if kind == "integer" else "a number")
        raise BadParameterError(field.name, f"not {what}: {exc}") from None
    if field.kind == "select":
        enum = _enum_of(spec) or []
        return next((v for v in enum if str(v) == raw), raw)
    return raw
