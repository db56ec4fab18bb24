"""What the rules API accepts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class PreviewIn(BaseModel):
    """A hypothetical signal state: {"SMG:tropical_cyclone": "8NE", "ZHUHAI:typhoon": null}
    (null: not in force), or a list of codes ["SMG:tropical_cyclone:8NE"]. By default these
    are set on top of the levels in force; `replace: true` uses only them."""

    model_config = ConfigDict(extra="forbid")

    signals: dict[str, str | None] | list[str] = Field(examples=[{"SMG:tropical_cyclone": "8NE"}])
    replace: bool = False

    def as_mapping(self) -> dict[str, str | None]:
        if isinstance(self.signals, dict):
            return dict(self.signals)
        return {code: None for code in self.signals}


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["done", "dismissed"]
    note: Annotated[str, Field(max_length=500)] | None = None
