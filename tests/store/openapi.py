"""Checks a JSON answer against a schema of Qdrant's OpenAPI specification, strictly: a field the
schema does not name is an error (a misspelt or misplaced field is what this is for).

Covers what the specification uses for answers: `$ref`, `anyOf` / `oneOf` / `allOf`, `type`,
`nullable` (also as a lone `{"nullable": true}` branch), `enum`, `properties`, `required`,
`items`, `additionalProperties` and `minimum`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parents[1] / "data" / "qdrant-openapi-1.19.json"  # Qdrant's own, kept beside the tests


def spec_path() -> Path:
    return SPEC


@cache
def spec() -> dict[str, Any]:
    return json.loads(spec_path().read_text())


def result_schema(path: str, method: str = "post") -> dict[str, Any]:
    """The schema of `result` in the 200 answer of an operation (path as the spec writes it)."""
    answer = spec()["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return answer["properties"]["result"]


def component(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def problems(schema: dict[str, Any], value: Any, where: str = "result") -> list[str]:
    """Every way `value` departs from `schema` (empty when it conforms)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return problems(spec()["components"]["schemas"][name], value, where)
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            branches = [problems(branch, value, where) for branch in schema[combinator]]
            if any(not found for found in branches):
                return []
            return [f"{where}: matches none of {combinator}: " + "; ".join(b[0] for b in branches if b)]
    if "allOf" in schema:
        return [p for branch in schema["allOf"] for p in problems(branch, value, where)]
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is not None and not _is(kind, value):
        return [f"{where}: expected {kind}, got {type(value).__name__} {value!r:.60}"]
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        return [f"{where}: {value} is below {schema['minimum']}"]
    if kind == "array" and "items" in schema:
        return [p for i, item in enumerate(value) for p in problems(schema["items"], item, f"{where}[{i}]")]
    if kind == "object" or "properties" in schema:
        return _object(schema, value, where) if isinstance(value, dict) else [f"{where}: expected an object"]
    return []


def _object(schema: dict[str, Any], value: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}: missing `{key}`" for key in schema.get("required", []) if key not in value]
    properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            found += problems(properties[key], item, f"{where}.{key}")
        elif isinstance(extra, dict):
            found += problems(extra, item, f"{where}.{key}")
        elif extra is not True and (properties or extra is False):
            found.append(f"{where}: unknown field `{key}`")
    return found


def _is(kind: str, value: Any) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }[kind]
