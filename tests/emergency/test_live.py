"""The thin path end to end: a signal raised over HTTP reaches every websocket client, in seq
order; reconnecting with `since` returns exactly what was missed; slow clients are dropped."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from emergency.events import service as event_service
from tests.support.live import LiveClient

TC8 = {"source": "SMG", "kind": "tropical_cyclone", "level": "8NE"}


def raise_signal(app, level, *, kind="tropical_cyclone", source="SMG"):
    r = app.client.post(
        "/api/v1/signals",
        headers=app.auth("operator"),
        json={"source": source, "kind": kind, "level": level},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_two_clients_receive_signal_changed_with_seq(app_server):
    viewer = app_server.token("viewer")
    with LiveClient(app_server.ws_url, viewer) as a, LiveClient(app_server.ws_url, viewer) as b:
        snap_a, snap_b = a.next(), b.next()
        assert snap_a["type"] == snap_b["type"] == "snapshot"
        assert snap_a["data"]["signals"] == []
        raise_signal(app_server, "8NE")
        ev_a, ev_b = a.next_event(), b.next_event()
    for ev in (ev_a, ev_b):
        assert ev["type"] == "signal.changed"
        assert ev["data"]["level"] == "8NE" and ev["data"]["change"] == "raise"
        assert ev["seq"] == snap_a["seq"] + 1
    assert ev_a == ev_b


def test_snapshot_shows_signals_in_force(app_server):
    raise_signal(app_server, "3")
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as c:
        snap = c.next()
    assert [(s["source"], s["level"]) for s in snap["data"]["signals"]] == [("SMG", "3")]
    assert snap["data"]["signals"][0]["in_force_since_local"].endswith("+08:00")


def test_reconnect_with_since_gets_exactly_what_was_missed(app_server):
    viewer = app_server.token("viewer")
    with LiveClient(app_server.ws_url, viewer) as c:
        c.next()
        raise_signal(app_server, "1")
        last_seen = c.next_event()["seq"]
    # While disconnected: three changes.
    for level in ("3", "8NE", "8SE"):
        raise_signal(app_server, level)

    # A change sets off more than signal.changed (our CAP alert, liaison notice, rules' actions).
    def is_change(level):
        return lambda m: m["type"] == "signal.changed" and m["data"]["level"] == level

    with LiveClient(app_server.ws_url, viewer, since=last_seen) as c:
        assert c.next()["type"] == "snapshot"
        missed = c.events_until(is_change("8SE"))
        with app_server.db.session() as session:
            stored = event_service.last_seq(session)
        missed += [c.next_event() for _ in range(stored - missed[-1]["seq"])]
        raise_signal(app_server, "9")
        live = c.events_until(is_change("9"))
    assert [m["seq"] for m in missed] == list(range(last_seen + 1, stored + 1))
    changes = [m for m in missed if m["type"] == "signal.changed"]
    assert [m["data"]["level"] for m in changes] == ["3", "8NE", "8SE"]
    assert [m["data"]["change"] for m in changes] == ["upgrade", "upgrade", "change"]
    assert live[0]["seq"] == stored + 1 and live[-1]["data"]["level"] == "9"


def test_events_arrive_in_order_under_concurrent_posts(app_server):
    import concurrent.futures

    with LiveClient(app_server.ws_url, app_server.token("viewer")) as c:
        start = c.next()["seq"]
        kinds = [
            ("SMG", "rainstorm", "yellow"),
            ("SMG", "storm_surge", "blue"),
            ("ZHUHAI", "typhoon", "blue"),
            ("ZHUHAI", "rainstorm", "yellow"),
            ("SMG", "tropical_cyclone", "1"),
            ("HENGQIN", "response_level", "IV"),
        ]
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda k: raise_signal(app_server, k[2], source=k[0], kind=k[1]), kinds))
        with app_server.db.session() as session:
            stored = event_service.last_seq(session)
        seqs = [c.next_event()["seq"] for _ in range(stored - start)]
    assert seqs == list(range(start + 1, stored + 1))


def test_bad_token_is_closed_with_4401(app_server):
    with LiveClient(app_server.ws_url, "tyh_wrong") as c, pytest.raises(ConnectionClosed) as info:
        c.next()
    assert info.value.rcvd.code == 4401


def test_ping_keeps_screen_alive(app_server):
    with LiveClient(app_server.ws_url, app_server.token("viewer")) as c:
        c.next()
        ping = c.next(timeout=30)
    assert ping["type"] == "ping" and "last_seq" in ping


class _Screen:
    """The websocket side the hub writes to; a slow one never finishes a send."""

    def __init__(self, slow: bool) -> None:
        import asyncio

        self.slow = slow
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self._gone = asyncio.Event()

    async def send_text(self, text: str) -> None:
        import asyncio

        if self.slow and self.sent:  # gets the snapshot, then stalls like a frozen screen
            await asyncio.Event().wait()
        self.sent.append(text)

    async def receive_text(self) -> str:
        await self._gone.wait()
        raise RuntimeError("gone")

    async def close(self, code: int, reason: str = "") -> None:
        self.closed_with = code
        self._gone.set()


def test_slow_client_is_dropped_without_delaying_others(tmp_path, _sqlite_template):
    import asyncio
    import json
    import shutil

    from emergency.db import Database
    from emergency.live.hub import CLOSE_TOO_SLOW, LiveHub

    shutil.copy(_sqlite_template, tmp_path / "t.db")
    db = Database(f"sqlite:///{tmp_path / 't.db'}")

    def commit_event() -> None:
        with db.unit_of_work() as session:
            event_service.emit(session, "signal.changed", {})

    async def scenario():
        hub = LiveHub(db, queue_size=5, ping_seconds=60)
        await hub.start()
        slow, fast = _Screen(slow=True), _Screen(slow=False)
        snapshot = lambda: ({"signals": []}, 0)  # noqa: E731
        tasks = [
            asyncio.create_task(
                hub.serve(
                    s, since=None, snapshot_fn=snapshot, role="operator", credential=f"token:{n}"
                )
            )
            for n, s in enumerate((slow, fast))
        ]
        while len(hub.clients) < 2 or len(fast.sent) < 1:
            await asyncio.sleep(0.01)
        for _ in range(20):  # committed one by one, each with its bus wake-up
            await asyncio.to_thread(commit_event)
            hub.on_bus_message({})
            await asyncio.sleep(0.005)
        await asyncio.wait_for(tasks[0], timeout=30)  # the slow client is closed and gone
        while len(fast.sent) < 21:
            await asyncio.sleep(0.01)
        await hub.stop()
        for t in tasks:
            t.cancel()
        return slow, fast

    # In a thread of its own: a session-wide browser fixture may own this thread's loop.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        slow, fast = pool.submit(asyncio.run, scenario()).result(timeout=60)
    db.dispose()
    assert slow.closed_with == CLOSE_TOO_SLOW
    assert [json.loads(t)["seq"] for t in fast.sent[1:]] == list(range(1, 21))
