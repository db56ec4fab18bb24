"""config/feeds.yaml: who may change each source's signals through CAP (trusted_senders), the
feeds to poll (RSS 2.0, Atom or one CAP document), how often, and when one counts as stale."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergency.cap.mapping import CapMappings
from emergency.configfiles import ConfigProblem, load_yaml

if TYPE_CHECKING:
    from emergency.runtime import Runtime

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
    kind: Literal["rss", "atom", "cap", "auto"] = "auto"  # auto: whatever the document is
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


SenderGlob = Annotated[str, Field(min_length=1, max_length=200)]


class FeedsFile(_Model):
    version: Literal[1]
    # Source id (config/signals.yaml) -> the CAP <sender> values allowed to change its
    # signals (exact, or globs: "*@smg.gov.mo"; case-insensitive). A source not listed is
    # changed by nobody through CAP; drills (status Exercise) change drill levels only.
    trusted_senders: dict[str, list[SenderGlob]] = {}
    defaults: Defaults = Defaults()
    feeds: list[FeedDef] = []

    def trusts(self, source: str, sender: str) -> bool:
        """May `sender` change `source`'s signals?"""
        folded = sender.strip().casefold()
        patterns = next(
            (
                globs
                for key, globs in self.trusted_senders.items()
                if key.casefold() == source.casefold()
            ),
            [],
        )
        return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)

    def trusted_sources(self, sender: str) -> list[str]:
        """The sources `sender` is trusted for."""
        return [source for source in self.trusted_senders if self.trusts(source, sender)]

    def interval(self, feed: FeedDef) -> float:
        return feed.interval_seconds or self.defaults.interval_seconds

    def timeout(self, feed: FeedDef) -> float:
        return feed.timeout_seconds or self.defaults.timeout_seconds

    def enabled(self) -> list[FeedDef]:
        return [f for f in self.feeds if f.enabled]


def _check(
    model: FeedsFile, mappings: CapMappings | None, sources: set[str] | None
) -> Iterator[ConfigProblem]:
    for source in model.trusted_senders:
        if sources is not None and source not in sources:
            yield ConfigProblem(
                ("trusted_senders", source),
                f"{source!r} is not a source of config/signals.yaml ({', '.join(sorted(sources))})",
            )
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


def load_feeds(
    path: str | Path, *, mappings: CapMappings | None = None, sources: set[str] | None = None
) -> FeedsFile:
    """Read config/feeds.yaml (a missing file means no feeds and no trusted sender)."""
    if not Path(path).exists():
        return FeedsFile(version=1)
    return load_yaml(path, FeedsFile, checks=[lambda m: _check(m, mappings, sources)])


def feeds_config(runtime: Runtime) -> FeedsFile:
    """config/feeds.yaml of this Runtime (emergency.config.ConfigSet)."""
    return runtime.config.feeds


def feed_mappings(runtime: Runtime, feed: FeedDef) -> CapMappings:
    """The mappings that apply to a feed (all of them unless the feed names some)."""
    return runtime.config.feed_mappings(feed)
