"""The journal's JSON values (audit summaries, event data): what FastAPI's generic encoder
makes of a value, walked directly where it is plain JSON, with secret keys left out at any
depth."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import pytest
from fastapi.encoders import jsonable_encoder

from emergency.encoding import json_safe
from emergency.events.service import SECRET_KEYS


class Colour(enum.Enum):
    red = "red"


ODD = {
    "at": datetime(2026, 12, 6, 23, 0, tzinfo=UTC),
    "colour": Colour.red,
    "items": [1, {"token": "secret", "pair": (1, 2)}],
    5: "a key that is not text",
    "tags": {"a"},
}
PLAIN = {"id": 1, "note": None, "data": {"kind": "hazard", "token": "x"}, "list": [1.5, "a"]}


@pytest.mark.parametrize(
    "value",
    [ODD, {"nested": ODD, "token": 1, "list": [ODD, PLAIN]}, PLAIN, [PLAIN, (1, 2)], "x", None],
    ids=["odd", "nested", "plain", "list", "text", "none"],
)
def test_the_same_as_the_generic_encoder_with_secrets_dropped(value):
    assert json_safe(value) == jsonable_encoder(value)
    dropped = json_safe(value, drop=SECRET_KEYS)
    assert "secret" not in repr(dropped) and "'token'" not in repr(dropped)
    if value is PLAIN:
        assert dropped == {"id": 1, "note": None, "data": {"kind": "hazard"}, "list": [1.5, "a"]}
