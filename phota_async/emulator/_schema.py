"""Body validation that answers like a FastAPI model with `extra="forbid"` and strict types.

Stricter than pydantic's lax mode on purpose: `"2"` is not an int and `1` is not a bool here,
because an SDK that sends either has a bug the emulator should reveal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
from aiohttp import web

from ._errors import unprocessable

Loc = tuple[str | int, ...]
Problem = dict[str, Any]


@attrs.frozen
class Spec:
    """One body field. `min`/`max` bound an int's value, a string's length or a list's length."""

    kind: Literal["str", "int", "bool", "str_list"]
    required: bool = False
    default: Any = None
    nullable: bool = False  # an Optional field: an explicit null means "not given"
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    pattern: re.Pattern[str] | None = None


async def json_body(request: web.Request) -> object:
    """The parsed JSON body, or 422 where FastAPI would answer one."""
    raw = await request.read()
    if not _declares_json(request.headers.get("Content-Type")):
        text = raw.decode("utf-8", "replace")
        raise unprocessable([problem(("body",), "model_attributes_type", _NOT_AN_OBJECT, text)])
    if not raw:
        raise unprocessable([problem(("body",), "missing", "Field required", None)])
    try:
        return json.loads(raw)
    except ValueError as exc:
        position = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        ctx = {"error": str(exc)}
        raise unprocessable(
            [problem(("body", position), "json_invalid", "JSON decode error", {}, ctx)]
        ) from exc


def _declares_json(content_type: str | None) -> bool:
    # FastAPI reads the body as JSON when the type says so, or when no type is sent at all.
    if content_type is None:
        return True
    mime = content_type.split(";")[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


def validate(body: object, specs: Mapping[str, Spec]) -> dict[str, Any]:
    """Every spec'd field (defaults filled in), or 422 listing every problem found."""
    if not isinstance(body, dict):
        raise unprocessable([problem(("body",), "model_attributes_type", _NOT_AN_OBJECT, body)])
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in body:
            if spec.required:
                problems.append(problem(("body", name), "missing", "Field required", body))
            values[name] = spec.default
            continue
        problems.extend(check(("body", name), body[name], spec))
        values[name] = spec.default if body[name] is None else body[name]
    problems.extend(
        problem(("body", name), "extra_forbidden", "Extra inputs are not permitted", value)
        for name, value in body.items()
        if name not in specs
    )
    if problems:
        raise unprocessable(problems)
    return values


def check(loc: Loc, value: object, spec: Spec) -> list[Problem]:
    if value is None:
        return [] if spec.nullable else [_type_problem(loc, value, spec.kind)]
    return _CHECKS[spec.kind](loc, value, spec)


def problem(
    loc: Loc, type: str, msg: str, value: object, ctx: dict[str, Any] | None = None
) -> Problem:
    item: Problem = {"type": type, "loc": list(loc), "msg": msg, "input": value}
    if ctx:
        item["ctx"] = ctx
    return item


_NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"
_TYPE_PROBLEMS = {
    "str": ("string_type", "Input should be a valid string"),
    "int": ("int_type", "Input should be a valid integer"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "str_list": ("list_type", "Input should be a valid list"),
}


def _type_problem(loc: Loc, value: object, kind: str) -> Problem:
    type_, msg = _TYPE_PROBLEMS[kind]
    return problem(loc, type_, msg, value)


def _check_str(loc: Loc, value: object, spec: Spec) -> list[Problem]:
    if not isinstance(value, str):
        return [_type_problem(loc, value, "str")]
    if spec.choices and value not in spec.choices:
        expected = _quoted_choices(spec.choices)
        msg = f"Input should be {expected}"
        return [problem(loc, "literal_error", msg, value, {"expected": expected})]
    return _length_problems(loc, value, spec, "String", "character") or _pattern_problems(
        loc, value, spec
    )


def _check_int(loc: Loc, value: object, spec: Spec) -> list[Problem]:
    if type(value) is not int:  # bool is an int subclass; a strict model refuses it
        return [_type_problem(loc, value, "int")]
    if spec.min is not None and value < spec.min:
        msg = f"Input should be greater than or equal to {spec.min}"
        return [problem(loc, "greater_than_equal", msg, value, {"ge": spec.min})]
    if spec.max is not None and value > spec.max:
        msg = f"Input should be less than or equal to {spec.max}"
        return [problem(loc, "less_than_equal", msg, value, {"le": spec.max})]
    return []


def _check_bool(loc: Loc, value: object, spec: Spec) -> list[Problem]:
    return [] if isinstance(value, bool) else [_type_problem(loc, value, "bool")]


def _check_str_list(loc: Loc, value: object, spec: Spec) -> list[Problem]:
    if not isinstance(value, list):
        return [_type_problem(loc, value, "str_list")]
    items = [
        _type_problem((*loc, i), v, "str") for i, v in enumerate(value) if not isinstance(v, str)
    ]
    return _length_problems(loc, value, spec, "List", "item") + items


def _length_problems(
    loc: Loc, value: str | list[Any], spec: Spec, noun: str, unit: str
) -> list[Problem]:
    # pydantic names the bounds of a string string_too_short/..., those of a list too_short/...
    prefix = "string_" if isinstance(value, str) else ""
    if spec.min is not None and len(value) < spec.min:
        msg = f"{noun} should have at least {spec.min} {unit}{_s(spec.min)}"
        ctx = {"min_length": spec.min, "actual_length": len(value)}
        return [problem(loc, f"{prefix}too_short", msg, value, ctx)]
    if spec.max is not None and len(value) > spec.max:
        msg = f"{noun} should have at most {spec.max} {unit}{_s(spec.max)}"
        ctx = {"max_length": spec.max, "actual_length": len(value)}
        return [problem(loc, f"{prefix}too_long", msg, value, ctx)]
    return []


def _pattern_problems(loc: Loc, value: str, spec: Spec) -> list[Problem]:
    if spec.pattern is None or spec.pattern.fullmatch(value):
        return []
    msg = f"String should match pattern '{spec.pattern.pattern}'"
    return [problem(loc, "string_pattern_mismatch", msg, value, {"pattern": spec.pattern.pattern})]


def _quoted_choices(choices: tuple[str, ...]) -> str:
    quoted = [f"'{c}'" for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


_CHECKS: Mapping[str, Callable[[Loc, object, Spec], list[Problem]]] = {
    "str": _check_str,
    "int": _check_int,
    "bool": _check_bool,
    "str_list": _check_str_list,
}
