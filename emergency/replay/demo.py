"""The living demo of `typhoon serve --demo` (`make run`): the Yagi-like scenario replayed
again and again, as an exercise, through the server's own API with the token of the demo's
own drill users (`demo-drill` drafts, `demo-drill-approver` is the second person of the
two-person rule): its records are exercise records, credited to nobody real.

It runs in a daemon thread beside uvicorn: it waits until the server answers and the demo
users exist, then plays the scenario at DEMO_SPEED (about five minutes a storm) and starts
over; a step the server refuses is logged and that round ends early.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from emergency.replay import service as replay_service
from emergency.replay.driver import Replay, ReplayError

log = logging.getLogger(__name__)

SCENARIO = "yagi"
DEMO_SPEED = 900.0  # 15 scenario minutes a second: the 3½ days of Yagi in about 5 minutes
PAUSE_SECONDS = 30  # between two rounds, so the end of the storm can be seen


def start(
    app: FastAPI,
    *,
    url: str,
    config_dir: Path,
    speed: float = DEMO_SPEED,
    pause: float = PAUSE_SECONDS,
    stop: threading.Event | None = None,
) -> threading.Thread:
    stop = stop or threading.Event()
    thread = threading.Thread(
        target=_loop,
        args=(app, url, config_dir, speed, pause, stop),
        name="demo-replay",
        daemon=True,
    )
    thread.start()
    return thread


def _loop(
    app: FastAPI, url: str, config_dir: Path, speed: float, pause: float, stop: threading.Event
) -> None:
    scenario = replay_service.load(SCENARIO, config_dir=config_dir)
    tokens = _wait_for_server(app, url, stop)
    rounds = 0
    while tokens and not stop.is_set():
        rounds += 1
        log.info("demo replay: round %d of %s (exercise)", rounds, SCENARIO)
        try:
            with Replay(
                scenario,
                url=url,
                token=tokens[0],
                approver_token=tokens[1],
                speed=speed,
                should_stop=stop.is_set,
            ) as replay:
                replay.run()
            app.state.demo_rounds = rounds  # rounds played to the end (the test waits on it)
        except ReplayError as exc:
            log.warning("demo replay: %s", exc)
        stop.wait(pause)


def _wait_for_server(
    app: FastAPI, url: str, stop: threading.Event
) -> tuple[str, str | None] | None:
    """The demo's drill users' tokens (operator, approver), once the server answers (None if
    stopped first)."""
    from emergency.demo import DRILL_APPROVER, DRILL_USER

    while not stop.is_set():
        tokens = getattr(app.state, "demo_tokens", None) or {}
        token = tokens.get(DRILL_USER, {})
        if token:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return token["token"], tokens.get(DRILL_APPROVER, {}).get("token")
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    return None
