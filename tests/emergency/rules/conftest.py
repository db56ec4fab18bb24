"""Helpers of the rules tests: short HTTP calls, the journal, facility states, crews."""

from __future__ import annotations

import pytest

from tests.emergency.cap.samples import fresh, post_cap


class Api:
    def __init__(self, app) -> None:
        self.app = app

    def get(self, path, role="viewer", **kw):
        r = self.app.client.get(path, headers=self.app.auth(role), **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path, body=None, role="operator"):
        return self.app.client.post(path, headers=self.app.auth(role), json=body)

    def signal(self, level, *, source="SMG", kind="tropical_cyclone", exercise=False):
        r = self.post(
            "/api/v1/signals",
            {"source": source, "kind": kind, "level": level, "exercise": exercise},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def cap(self, name, **kw):
        r = post_cap(self.app, fresh(name, **kw))
        assert r.status_code in (200, 201), r.text
        return r.json()

    def facilities(self) -> dict[str, str]:
        return {f["id"]: f["status"] for f in self.get("/api/v1/facilities")}

    def journal(self) -> list[dict]:
        return self.get("/api/v1/rules/journal")

    def rules(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.get("/api/v1/rules")}

    def rules_exercise(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.get("/api/v1/rules?exercise=true")}

    def last_seq(self) -> int:
        return self.get("/api/v1/situation")["last_seq"]

    def settle(self) -> int:
        """Send what the rules started (the liaison SMS) and run what is due, to the end
        (`app.drain()`: no background worker here); returns the last seq."""
        self.app.drain()
        return self.last_seq()

    def crews(self, count=3, status="resting", headcount=60) -> list[dict]:
        out = []
        for n in range(count):
            r = self.post(
                "/api/v1/crews",
                {
                    "name": f"Rescue team {n + 1}",
                    "unit": "test",
                    "headcount": headcount,
                    "status": status,
                },
            )
            assert r.status_code == 201, r.text
            out.append(r.json())
        return out


@pytest.fixture
def api(app_server) -> Api:
    return Api(app_server)


def by_rule(actions, rule_id, phase="on") -> list[dict]:
    return [a for a in actions if a["rule_id"] == rule_id and a["phase"] == phase]
