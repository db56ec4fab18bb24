"""The `exercise` flag of a request body, as every domain's API takes it (emergency.drills)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

DrillRecord = Annotated[bool, Field(description="a drill's record: never counted in real figures")]
"""On a body that creates a record: the record is a drill's (default: real)."""

DrillChange = Annotated[
    bool, Field(description="a drill's change: it may change a drill's records only")
]
"""On a body that changes a record: the change is a drill's (default: real)."""
