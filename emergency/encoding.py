"""JSON values for the journal (audit summaries, event data) without FastAPI's generic encoder
on the hot path: what is plain JSON already (nearly every payload) is walked directly, and
anything else (a datetime, an enum, a model) goes through `jsonable_encoder` as before."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi.encoders import jsonable_encoder

_PLAIN = frozenset({str, int, float, bool, type(None)})


def json_safe(value: Any, *, drop: Collection[str] = ()) -> Any:
    """`jsonable_encoder(value)`, with the keys in `drop` left out of every dict at any depth."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        if all(type(k) is str for k in value):
            return {k: json_safe(v, drop=drop) for k, v in value.items() if k not in drop}
    elif kind is list or kind is tuple:
        return [json_safe(v, drop=drop) for v in value]
    return _dropped(jsonable_encoder(value), drop) if drop else jsonable_encoder(value)


def _dropped(value: Any, drop: Collection[str]) -> Any:
    if isinstance(value, dict):
        return {k: _dropped(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_dropped(v, drop) for v in value]
    return value
