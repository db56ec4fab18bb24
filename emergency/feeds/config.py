"""config/feeds.yaml: the CAP/Atom feeds to poll, how often, and when one counts as stale."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergency.cap.mapping import CapMappings
from emergency.configfiles import ConfigProblem, load_yaml
from emergency.signals.context import cached

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,59}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    interval_seconds: Annotated[float, Field(ge=1, le=86400)] = 60
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10
    max_backoff_seconds: Annotated[float, Field(ge=1, le=86400)] = 900
    stale_after_failures: Annotated[int, Field(ge=1, le=100)] = 3
    stale_after_intervals: Annotated[float, Field(ge=1, le=100)] = 3


class FeedDef(_Model):
    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=120)]
    url: Annotated[str, Field(max_length=1000)]
    kind: Literal["atom", "cap"]
    interval_seconds: Annotated[float, Field(ge=1, le=86400)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] | None = None
    mappings: list[str] | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// address")
        return value


class FeedsFile(_Model):
    version: Literal[1]
    defaults: Defaults = Defaults()
    feeds: list[FeedDef] = []

    def interval(self, feed: FeedDef) -> float:
        return feed.interval_seconds or self.defaults.interval_seconds

    def timeout(self, feed: FeedDef) -> float:
        return feed.timeout_seconds or self.defaults.timeout_seconds

    def enabled(self) -> list[FeedDef]:
        return [f for f in self.feeds if f.enabled]


def _check(model: FeedsFile, mappings: CapMappings | None):
    seen: set[str] = set()
    for i, feed in enumerate(model.feeds):
        if feed.id in seen:
            yield ConfigProblem(("feeds", i, "id"), f"feed {feed.id!r} is listed twice")
        seen.add(feed.id)
        if mappings is None or feed.mappings is None:
            continue
        names = [m.name for m in mappings.mappings]
        for j, pattern in enumerate(feed.mappings):
            if not fnmatch.filter(names, pattern):
                yield ConfigProblem(
                    ("feeds", i, "mappings", j),
                    f"no mapping of cap_mappings.yaml is named {pattern!r}",
                )


def load_feeds(path: str | Path, *, mappings: CapMappings | None = None) -> FeedsFile:
    """Read config/feeds.yaml (a missing file means no feeds)."""
    if not Path(path).exists():
        return FeedsFile(version=1)
    return load_yaml(path, FeedsFile, checks=[lambda m: _check(m, mappings)])


def feeds_config(runtime: Any) -> FeedsFile:
    from emergency.cap import flows as cap_flows

    return cached(
        runtime,
        "feeds.config",
        lambda: load_feeds(
            runtime.settings.config_dir / "feeds.yaml", mappings=cap_flows.mappings(runtime)
        ),
    )


def feed_mappings(runtime: Any, feed: FeedDef) -> CapMappings:
    """The mappings that apply to a feed (all of them unless the feed names some)."""
    from emergency.cap import flows as cap_flows

    every = cap_flows.mappings(runtime)
    if feed.mappings is None:
        return every

    def build() -> CapMappings:
        chosen = [
            m for m in every.mappings if any(fnmatch.fnmatchcase(m.name, p) for p in feed.mappings)
        ]
        return CapMappings(version=1, mappings=chosen)

    return cached(runtime, f"feeds.mappings.{feed.id}", build)
