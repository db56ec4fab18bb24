"""Drives a running server through its HTTP API, one scenario step after another.

Everything goes through the same endpoints an operator, a field phone or a feed uses, with
one operator (or admin) token. Drills only, and every step says so (`"exercise": true`):
signals and CAP alerts change the exercise levels, broadcasts go to the exercise list with
texts marked EXERCISE, and the field records (inspection groups and trips, hazards, crews,
shelters' drill state, evacuations, residents, calls) are exercise records, which real
figures, the real situation and the real report never count. What an earlier round made is
found again among the drill's records (`?exercise=true`).

A drill level someone else set by hand (an operator practising on the desk, their own drill)
is left alone: the replay neither changes nor lowers it, and says so (`Outcome.left_alone`).
The two-person rule is part of the drill: an `approve` step is made with a second person's
token (`approver_token`: an approver, not the replay's operator); without one the broadcast
waits for a person at the dashboard (`Outcome.awaiting_approval`).
Time is compressed: the wait between two steps is (scenario time between them) / speed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import httpx

from emergency.replay import scenario as sc

log = logging.getLogger(__name__)

MACAU = ZoneInfo("Asia/Macau")
CAP_SENDER = "replay.hengqin.example"
# Rough outline of Hengqin for the drill's CAP alerts ("lat,lon" pairs, first = last).
HENGQIN_POLYGON = "22.165,113.470 22.165,113.570 22.070,113.570 22.070,113.470 22.165,113.470"


class ReplayError(RuntimeError):
    """Something the person running the replay must fix (server, token, a refused step)."""


@dataclass
class Outcome:
    steps: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    broadcasts: list[int] = field(default_factory=list)
    # drill signals set by hand by someone else, which the replay did not touch ("SMG:…")
    left_alone: list[str] = field(default_factory=list)
    # broadcasts left for a second person at the dashboard (no approver token)
    awaiting_approval: list[int] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class _State:
    """What earlier steps made, by the name the scenario gives it."""

    run: str
    note: str
    groups: dict[str, int] = field(default_factory=dict)
    crews: dict[str, int] = field(default_factory=dict)
    hazards: dict[str, int] = field(default_factory=dict)
    residents: dict[str, int] = field(default_factory=dict)
    broadcasts: dict[str, int] = field(default_factory=dict)
    cap_alerts: dict[str, str] = field(default_factory=dict)  # source:kind → references triple
    left_alone: set[str] = field(default_factory=set)  # someone else's drill levels (source:kind)


class Replay:
    def __init__(
        self,
        scenario: sc.Scenario,
        *,
        url: str,
        token: str,
        speed: float,
        approver_token: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        if speed <= 0:
            raise ReplayError("--speed must be greater than 0")
        self.scenario, self.url, self.speed = scenario, url.rstrip("/"), speed
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.approver: httpx.Client | None = None
        if approver_token:
            self.approver = httpx.Client(base_url=self.url, timeout=30)
            self.approver.headers["Authorization"] = f"Bearer {approver_token}"
        self.me = ""  # the replay's operator (check): its own drill levels are its to change
        self.outcome = Outcome()
        self._should_stop = should_stop

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.approver is not None:
            self.approver.close()

    # --- the run ---------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """The server answers and the token is an operator's (or an admin's)."""
        try:
            response = self.client.get("/api/v1/me")
        except httpx.HTTPError as exc:
            raise ReplayError(f"server unreachable at {self.url}: {exc}") from None
        if response.status_code == 401:
            raise ReplayError(
                f"bad token: {self.url} refused it (401); give an operator's "
                "token with --token or TYPHOON_TOKEN"
            )
        try:
            me = response.json() if response.status_code == 200 else None
        except ValueError:
            me = None
        if not isinstance(me, dict):
            raise ReplayError(
                f"{self.url}/api/v1/me answered {response.status_code}: is this a typhoon server?"
            )
        if me.get("role") not in ("operator", "admin"):
            raise ReplayError(
                f"the token is {me.get('name')!r}'s, role {me.get('role')!r}: "
                "a replay needs an operator (or admin) token"
            )
        self.me = str(me.get("name") or "")
        if self.approver is not None:
            second = self.approver.get("/api/v1/me")
            who = second.json() if second.status_code == 200 else {}
            if second.status_code == 401 or not isinstance(who, dict):
                raise ReplayError(f"bad approver token: {self.url} refused it")
            if who.get("role") not in ("approver", "admin") or who.get("name") == self.me:
                raise ReplayError(
                    f"the approver token is {who.get('name')!r}'s, role {who.get('role')!r}: "
                    "the two-person rule needs a second person, an approver (or admin) other "
                    f"than {self.me!r}"
                )
        return me

    def run(self, on_step: Callable[[int, sc.Step], None] | None = None) -> Outcome:
        self.check()
        run_id = uuid.uuid4().hex[:8]
        state = _State(run=run_id, note=f"exercise: {self.scenario.name} (replay {run_id})"[:200])
        outcome = self.outcome = Outcome(started_at=datetime.now(MACAU))
        previous = self.scenario.start
        for index, step in enumerate(self.scenario.steps):
            wait = (step.at - previous).total_seconds() / self.speed
            previous = step.at
            if self._wait(wait):
                break
            try:
                made = _ACTIONS[type(step)](self, step, state)
            except httpx.HTTPError as exc:
                raise ReplayError(
                    f"step {index + 1} ({step.do} at {step.at.isoformat()}): "
                    f"server unreachable at {self.url}: {exc}"
                ) from None
            except ReplayError as exc:
                raise ReplayError(
                    f"step {index + 1} ({step.do} at {step.at.isoformat()}): {exc}"
                ) from None
            if isinstance(step, sc.BroadcastStep):
                outcome.broadcasts.append(made["id"])
            outcome.steps += 1
            outcome.by_kind[step.do] = outcome.by_kind.get(step.do, 0) + 1
            if on_step:
                on_step(index, step)
        outcome.finished_at = datetime.now(MACAU)
        return outcome

    def _wait(self, seconds: float) -> bool:
        """Sleep in short slices so a stop is seen quickly; True when told to stop."""
        deadline = time.monotonic() + max(seconds, 0)
        while True:
            if self._should_stop():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.5))

    # --- HTTP ------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kwargs: Any
    ) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code == 401:
            raise ReplayError(f"bad token: {method} {path} answered 401")
        if response.status_code not in ok:
            try:
                error = response.json()["error"]
                detail = f"{error['code']}: {error['message']}"
            except Exception:
                detail = response.text[:300]
            raise ReplayError(f"{method} {path} answered {response.status_code} ({detail})")
        return response.json() if response.content else None

    def _field_report(self, state: _State, body: dict[str, Any]) -> dict[str, Any]:
        key = f"replay-{state.run}-{uuid.uuid4().hex[:12]}"
        report: dict[str, Any] = self._call(
            "POST",
            "/api/v1/field-reports",
            json={**body, "note": state.note, "exercise": True},
            headers={"Idempotency-Key": key},
        )
        return report

    def _someone_elses_drill(self, source: str, kind: str, state: _State) -> bool:
        """The drill level of source:kind in force was set by hand by another person (their
        own drill): the replay leaves it alone, now and for the rest of the run."""
        signal = f"{source}:{kind}"
        if signal in state.left_alone:
            return True
        latest = self._call(
            "GET",
            "/api/v1/signals",
            params={"source": source, "kind": kind, "exercise": "true", "limit": 1},
        )
        change = latest[0] if latest else None
        if (
            change
            and change.get("level")
            and change.get("origin") == "operator"
            and change.get("actor") != self.me
        ):
            state.left_alone.add(signal)
            self.outcome.left_alone.append(signal)
            log.info("replay: %s is %s's own drill: left alone", signal, change["actor"])
            return True
        return False

    def _find(self, path: str, name: str, key: str = "name") -> int | None:
        """A drill's record by name (a demo loop replays the same scenario again)."""
        rows = self._call("GET", path, params={"exercise": "true"})
        return next((row["id"] for row in rows if row.get(key) == name), None)


# --- one function per kind of step -----------------------------------------------------------


def _signal(r: Replay, s: sc.SignalStep, state: _State) -> Any:
    if r._someone_elses_drill(s.source, s.kind, state):
        return None
    return r._call(
        "POST",
        "/api/v1/signals",
        json={
            "source": s.source,
            "kind": s.kind,
            "level": s.level,
            "exercise": True,
            "note": state.note,
        },
    )


def _feed(r: Replay, s: sc.FeedStep, state: _State) -> Any:
    signal = f"{s.source}:{s.kind}"
    if r._someone_elses_drill(s.source, s.kind, state):
        return None
    identifier = f"REPLAY-{state.run}-{uuid.uuid4().hex[:10]}"
    sent = datetime.now(MACAU).replace(microsecond=0)
    references = state.cap_alerts.get(signal)
    if s.level is None and references is None:
        raise ReplayError(f"feed: nothing to cancel, no earlier feed step set {signal}")
    xml = cap_alert(
        identifier=identifier,
        sent=sent,
        signal=signal,
        level=s.level,
        headline=s.headline,
        references=references,
    )
    result = r._call(
        "POST", "/api/v1/cap", content=xml.encode(), headers={"Content-Type": "application/cap+xml"}
    )
    state.cap_alerts[signal] = f"{CAP_SENDER},{identifier},{sent.isoformat()}"
    return result


def cap_alert(
    *,
    identifier: str,
    sent: datetime,
    signal: str,
    level: str | None,
    headline: str,
    references: str | None,
) -> str:
    """A CAP 1.2 Exercise alert naming the signal as eventCode SIGNAL (DOMAIN.md);
    level None is a Cancel of the alert that set it."""
    code = f"{signal}:{level}" if level else signal
    msg_type = "Cancel" if level is None else ("Update" if references else "Alert")
    refs = f"<references>{escape(references)}</references>" if references else ""
    stamp = sent.isoformat()
    expires = (sent + timedelta(hours=12)).isoformat()
    event_code = (
        (f"<eventCode><valueName>SIGNAL</valueName><value>{escape(code)}</value></eventCode>")
        if level
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{escape(identifier)}</identifier>
  <sender>{CAP_SENDER}</sender>
  <sent>{stamp}</sent>
  <status>Exercise</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  <note>EXERCISE - storm replay</note>
  {refs}
  <info>
    <language>en</language>
    <category>Met</category>
    <event>{escape(headline)} (EXERCISE)</event>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    {event_code}
    <effective>{stamp}</effective>
    <expires>{expires}</expires>
    <headline>[EXERCISE] {escape(headline)}</headline>
    <area>
      <areaDesc>Hengqin</areaDesc>
      <polygon>{HENGQIN_POLYGON}</polygon>
    </area>
  </info>
</alert>
"""


def _group(r: Replay, s: sc.GroupStep, state: _State) -> Any:
    existing = r._find("/api/v1/inspection-groups", s.name)
    if existing is None:
        existing = r._call(
            "POST",
            "/api/v1/inspection-groups",
            json={
                "name": s.name,
                "zone_ids": s.zones,
                "members": s.members,
                "vehicles": s.vehicles,
                "exercise": True,
            },
        )["id"]
    state.groups[s.name] = existing
    return {"id": existing}


def _check_in(r: Replay, s: sc.CheckInStep, state: _State) -> Any:
    return r._field_report(
        state,
        {
            "kind": "check_in",
            "group_id": state.groups[s.group],
            "persons": s.persons,
            "vehicles": s.vehicles,
            "lat": s.lat,
            "lon": s.lon,
        },
    )


def _check_out(r: Replay, s: sc.CheckOutStep, state: _State) -> Any:
    return r._field_report(
        state, {"kind": "check_out", "group_id": state.groups[s.group], "lat": s.lat, "lon": s.lon}
    )


def _hazard(r: Replay, s: sc.HazardStep, state: _State) -> Any:
    report = r._field_report(
        state,
        {
            "kind": "hazard",
            "group_id": state.groups[s.group],
            "hazard_kind": s.hazard_kind,
            "severity": s.severity,
            "lat": s.lat,
            "lon": s.lon,
            "place": s.place,
        },
    )
    state.hazards[s.key] = report["result"]["hazard_id"]
    return report


def _rectified(r: Replay, s: sc.RectifiedStep, state: _State) -> Any:
    return r._field_report(
        state,
        {
            "kind": "rectified",
            "group_id": state.groups[s.group],
            "hazard_id": state.hazards[s.hazard],
        },
    )


def _crew(r: Replay, s: sc.CrewStep, state: _State) -> Any:
    existing = r._find("/api/v1/crews", s.name)
    if existing is None:
        crew = r._call(
            "POST",
            "/api/v1/crews",
            json={
                "name": s.name,
                "headcount": s.headcount,
                "station": s.station,
                "status": s.status,
                "exercise": True,
            },
        )
    else:  # an earlier loop made it: bring it back to the scenario's status
        crew = r._call(
            "POST",
            f"/api/v1/crews/{existing}/status",
            json={
                "status": s.status,
                "headcount": s.headcount,
                "note": state.note,
                "exercise": True,
            },
        )
    state.crews[s.name] = crew["id"]
    return crew


def _crew_status(r: Replay, s: sc.CrewStatusStep, state: _State) -> Any:
    return r._call(
        "POST",
        f"/api/v1/crews/{state.crews[s.crew]}/status",
        json={"status": s.status, "note": state.note, "exercise": True},
    )


def _shelter(r: Replay, s: sc.ShelterStep, state: _State) -> Any:
    return r._call(
        "POST",
        f"/api/v1/shelters/{s.shelter}/open",
        json={"open": s.open, "note": state.note, "exercise": True},
    )


def _evacuate(r: Replay, s: sc.EvacuateStep, state: _State) -> Any:
    return r._call(
        "POST",
        "/api/v1/evacuation/movements",
        json={
            "people": s.people,
            "shelter_id": s.shelter,
            "to_place": s.to_place,
            "from_place": s.from_place,
            "lat": s.lat,
            "lon": s.lon,
            "note": state.note,
            "exercise": True,
        },
    )


def _resident(r: Replay, s: sc.ResidentStep, state: _State) -> Any:
    existing = r._find("/api/v1/vulnerable/residents", s.name)
    if existing is None:
        existing = r._call(
            "POST",
            "/api/v1/vulnerable/residents",
            json={
                "name": s.name,
                "address": s.address,
                "community": s.community,
                "needs": s.needs,
                "exercise": True,
            },
        )["id"]
    state.residents[s.key] = existing
    return {"id": existing}


def _resident_check(r: Replay, s: sc.ResidentCheckStep, state: _State) -> Any:
    return r._call(
        "POST",
        f"/api/v1/vulnerable/residents/{state.residents[s.resident]}/check",
        json={"state": s.state, "note": state.note, "exercise": True},
    )


def _broadcast(r: Replay, s: sc.BroadcastStep, state: _State) -> Any:
    body: dict[str, Any] = {
        "title": s.title,
        "zones": s.zones,
        "channels": s.channels,
        "exercise": True,
    }
    if s.template:
        body |= {"template": s.template, "variables": s.variables}
    else:
        body["messages"] = s.messages
    made = r._call(
        "POST",
        "/api/v1/broadcasts",
        json=body,
        headers={"Idempotency-Key": f"replay-{state.run}-{uuid.uuid4().hex[:12]}"},
    )
    if s.key:
        state.broadcasts[s.key] = made["id"]
    return made


def _approve(r: Replay, s: sc.ApproveStep, state: _State) -> Any:
    broadcast_id = state.broadcasts[s.broadcast]
    if r.approver is None:
        log.info("replay: broadcast %s awaits a second person's approval", broadcast_id)
        r.outcome.awaiting_approval.append(broadcast_id)
        return None
    response = r.approver.post(
        f"/api/v1/broadcasts/{broadcast_id}/approve",
        headers={"Idempotency-Key": f"replay-{state.run}-{uuid.uuid4().hex[:12]}"},
    )
    if response.status_code == 409:  # a person at the dashboard was quicker (or cancelled it)
        log.info("replay: approval of broadcast %s: %s", broadcast_id, response.text[:200])
        return None
    if response.status_code != 200:
        raise ReplayError(
            f"POST /api/v1/broadcasts/{broadcast_id}/approve (approver) answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


def _liaison_call(r: Replay, s: sc.LiaisonCallStep, state: _State) -> Any:
    return r._call(
        "POST",
        "/api/v1/liaison/calls",
        json={
            "direction": s.direction,
            "caller": s.caller,
            "summary": f"[EXERCISE] {s.summary}",
            "follow_up": s.follow_up,
            "exercise": True,
        },
    )


_ACTIONS: dict[type, Callable[[Replay, Any, _State], Any]] = {
    sc.SignalStep: _signal,
    sc.FeedStep: _feed,
    sc.GroupStep: _group,
    sc.CheckInStep: _check_in,
    sc.CheckOutStep: _check_out,
    sc.HazardStep: _hazard,
    sc.RectifiedStep: _rectified,
    sc.CrewStep: _crew,
    sc.CrewStatusStep: _crew_status,
    sc.ShelterStep: _shelter,
    sc.EvacuateStep: _evacuate,
    sc.ResidentStep: _resident,
    sc.ResidentCheckStep: _resident_check,
    sc.BroadcastStep: _broadcast,
    sc.ApproveStep: _approve,
    sc.LiaisonCallStep: _liaison_call,
}
