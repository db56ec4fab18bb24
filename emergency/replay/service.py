"""`typhoon replay` and the demo's loop: find the scenario, check it, play it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from emergency.configfiles import ConfigFileError
from emergency.replay import scenario as sc
from emergency.replay.driver import Outcome, Replay, ReplayError
from emergency.replay.scenario import Step


class ScenarioError(ValueError):
    """The scenario cannot be used: unknown, or its file is wrong (file:line:field)."""


def load(name: str, *, config_dir: Path) -> sc.Scenario:
    try:
        return sc.load(sc.resolve(name, config_dir))
    except FileNotFoundError as exc:
        raise ScenarioError(str(exc)) from None
    except ConfigFileError as exc:
        raise ScenarioError(str(exc)) from None


def play(
    name: str,
    *,
    config_dir: Path,
    url: str,
    token: str | None,
    speed: float,
    approver_token: str | None = None,
    on_step: Callable[[int, Step], None] | None = None,
) -> Outcome:
    scenario = load(name, config_dir=config_dir)
    if not token:
        raise ReplayError("no token: give an operator's token with --token or TYPHOON_TOKEN")
    with Replay(
        scenario, url=url, token=token, speed=speed, approver_token=approver_token
    ) as replay:
        return replay.run(on_step=on_step)
