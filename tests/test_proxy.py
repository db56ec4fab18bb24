"""The reverse proxy of the deployment (deploy/caddy/Caddyfile, issue 20.4) in front of a real
`typhoon serve` process: TLS with HSTS, plain HTTP redirected, the live stream's websocket
upgraded, and no credential in the proxy's access log (the token of the live stream's query,
acknowledgement links, Authorization and Cookie headers). Runs Debian's caddy (.ci/run
installs it) with the very Caddyfile that docker-compose.yml mounts."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.processes import start_api
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"


@dataclass
class Proxy:
    https: str
    http: str
    wss: str
    ca: Path
    log: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.https, verify=self.ssl(), timeout=30, **kwargs)

    def ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def access_log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@contextmanager
def caddy(upstream_port: int, tmp_path: Path) -> Iterator[Proxy]:
    binary = shutil.which("caddy")
    if binary is None:
        pytest.skip("caddy is not installed (.ci/run installs Debian's)")
    # A free port can be taken before caddy binds it (an outgoing connection's ephemeral
    # port, by another test): caddy then stops at once, and is started again on others.
    for attempt in range(3):
        started = _start_caddy(binary, upstream_port, tmp_path / f"caddy-{attempt}")
        if started is not None:
            break
    else:
        raise AssertionError("caddy found its ports taken three times")
    proc, proxy, out = started
    try:
        yield proxy
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        out.close()


def _start_caddy(
    binary: str, upstream_port: int, home: Path
) -> tuple[subprocess.Popen[bytes], Proxy, IO[bytes]] | None:
    """Caddy in front of `upstream_port`, serving; None if it stopped because a port was taken."""
    https_port, http_port = free_port(), free_port()
    log = home / "access.log"
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "CADDY_HTTPS_PORT": str(https_port),
        "CADDY_HTTP_PORT": str(http_port),
        "CADDY_LOG_FILE": str(log),
        "TYPHOON_DOMAIN": "localhost",
        "TYPHOON_TLS": "internal",
        "TYPHOON_UPSTREAM_HOST": "localhost",
        "TYPHOON_UPSTREAM_PORT": str(upstream_port),
    }
    home.mkdir(parents=True)
    out = open(home / "caddy.out", "wb")  # noqa: SIM115 - closed by caddy()
    proc = subprocess.Popen(
        [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    ca = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    proxy = Proxy(
        https=f"https://localhost:{https_port}",
        http=f"http://localhost:{http_port}",
        wss=f"wss://localhost:{https_port}",
        ca=ca,
        log=log,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            out.close()
            said = (home / "caddy.out").read_text()[-3000:]
            if "address already in use" in said:
                return None
            raise AssertionError(said)
        if ca.exists():
            try:
                with proxy.client() as client:
                    if client.get("/readyz").status_code == 200:
                        return proc, proxy, out
            except (httpx.HTTPError, ssl.SSLError):
                pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            out.close()
            raise AssertionError((home / "caddy.out").read_text()[-3000:])
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory, _sqlite_template):
    """A `typhoon serve` process on SQLite with an operator and a viewer, for the module's
    tests (each starts a proxy of its own in front of it)."""
    from emergency.auth import service as auth_service
    from emergency.db import Database

    tmp_path = tmp_path_factory.mktemp("served")
    shutil.copy(_sqlite_template, tmp_path / "typhoon.db")  # migrated once per run
    url = f"sqlite:///{tmp_path / 'typhoon.db'}"
    db = Database(url)
    with db.unit_of_work() as session:
        _, operator = auth_service.create_user(session, name="op", role="operator", actor="t")
        _, viewer = auth_service.create_user(session, name="wall", role="viewer", actor="t")
    db.dispose()
    env = {
        "TYPHOON_DATABASE_URL": url,
        "TYPHOON_DATA_DIR": str(tmp_path / "data"),
        "TYPHOON_TRUSTED_PROXIES": "127.0.0.1,::1",
    }
    with start_api(env, tmp_path / "api.log") as api:
        yield api, operator, viewer


def test_tls_hsts_redirect_and_websocket_through_the_proxy(served, tmp_path):
    api, operator, viewer = served
    with caddy(api.port, tmp_path) as proxy, proxy.client() as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["ready"] is True
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "server" not in r.headers
        plain = httpx.get(f"{proxy.http}/readyz", follow_redirects=False, timeout=10)
        assert plain.status_code in (301, 308)
        assert plain.headers["location"].startswith("https://localhost")

        # The live stream through the proxy: upgraded, and events flow both ways.
        with connect(f"{proxy.wss}/ws/live?token={viewer}", ssl=proxy.ssl(), open_timeout=20) as ws:
            snapshot = json.loads(ws.recv(timeout=20))
            assert snapshot["type"] == "snapshot"
            raised = client.post(
                "/api/v1/signals",
                headers={"Authorization": f"Bearer {operator}"},
                json={"source": "SMG", "kind": "tropical_cyclone", "level": "3"},
            )
            assert raised.status_code == 200, raised.text
            deadline = time.monotonic() + 20
            while True:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message["type"] == "signal.changed":
                    break
            assert message["data"]["level"] == "3"


def test_the_access_log_keeps_no_credentials(served, tmp_path):
    api, operator, viewer = served
    ack_secret = "AckLinkSecret0123456789abcdefXYZ"
    with caddy(api.port, tmp_path) as proxy, proxy.client() as client:
        with connect(
            f"{proxy.wss}/ws/live?token={viewer}&since=0", ssl=proxy.ssl(), open_timeout=20
        ) as ws:
            assert json.loads(ws.recv(timeout=20))["type"] == "snapshot"
        assert client.get(f"/api/v1/liaison/ack/{ack_secret}").status_code == 404
        client.get(
            "/api/v1/signals/active",
            headers={"Authorization": f"Bearer {operator}", "Cookie": "typhoon_session=c00kie"},
        )
        deadline = time.monotonic() + 20  # the log is written as requests finish
        while proxy.access_log().count("\n") < 3:
            assert time.monotonic() < deadline, proxy.access_log()
            time.sleep(0.1)
    text = proxy.access_log()
    for secret in (viewer, operator, ack_secret, "c00kie"):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    uris = [line["request"]["uri"] for line in lines]
    assert "/ws/live?token=REDACTED&since=0" in uris
    assert "/api/v1/liaison/ack/REDACTED" in uris


def test_per_address_limits_count_the_real_client_behind_the_proxy(tmp_path, _sqlite_template):
    """Behind the proxy every request comes from the proxy's address: only because the API
    believes the proxy's X-Forwarded-For (TYPHOON_TRUSTED_PROXIES) does a per-address limit
    count each client on its own, and only because Caddy replaces a client's own
    X-Forwarded-For can nobody pick the address they are counted under. Two clients from two
    loopback addresses: one runs into the CAP feed's limit, the other is not punished."""
    shutil.copy(_sqlite_template, tmp_path / "typhoon.db")  # migrated once per run
    url = f"sqlite:///{tmp_path / 'typhoon.db'}"
    env = {
        "TYPHOON_DATABASE_URL": url,
        "TYPHOON_DATA_DIR": str(tmp_path / "data"),
        "TYPHOON_TRUSTED_PROXIES": "127.0.0.1,::1",
        "TYPHOON_CAP_FEED_RATE_LIMIT": "3",
    }
    with start_api(env, tmp_path / "api.log") as api, caddy(api.port, tmp_path) as proxy:
        port = proxy.https.rsplit(":", 1)[1]

        def client_from(address: str) -> httpx.Client:
            transport = httpx.HTTPTransport(local_address=address, verify=proxy.ssl())
            return httpx.Client(
                base_url=f"https://127.0.0.1:{port}",
                headers={"Host": f"localhost:{port}"},
                transport=transport,
                timeout=30,
            )

        def feed(client: httpx.Client, **headers: str) -> int:
            r = client.get(
                "/api/v1/cap/feed.atom",
                headers=headers,
                extensions={"sni_hostname": "localhost"},
            )
            return r.status_code

        with client_from("127.0.0.2") as a, client_from("127.0.0.3") as b:
            assert [feed(a) for _ in range(3)] == [200, 200, 200]
            assert feed(a) == 429
            # pretending to be someone else changes nothing: Caddy sets the header itself
            assert feed(a, **{"X-Forwarded-For": "203.0.113.9"}) == 429
            assert feed(b) == 200  # another resident behind the same proxy is not punished
