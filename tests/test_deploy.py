"""docker-compose.yml stays valid and runnable: the compose tool's own check (no Docker engine
is needed for `config`), and every command it runs exists in our CLI; and it stays a
deployment one could run in anger (issue 20.3): no password in it, the application not the
database's owner nor a superuser, secrets as Docker secrets, only the TLS proxy published,
API replicas that scale, a shared photo volume, restart policies, log rotation, pinned images.
Its PostgreSQL layout (deploy/postgres/init-roles.sh, then the migrate job, then the API as
typhoon_app) is run for real against the local PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cli import typhoon

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def _compose_tool() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid_for_compose():
    tool = _compose_tool()
    if tool is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (.ci/run installs it)"
        )
    out = subprocess.run(
        [*tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr


def test_compose_services_commands_and_health_checks():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"postgres", "redis", "api", "worker", "scheduler"} <= set(services)
    for name in ("postgres", "redis", "api", "worker", "scheduler"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ("api", "worker", "scheduler"):
        assert services[name]["build"] == "."  # one Dockerfile for every role
        env = services[name]["environment"]
        assert env["TYPHOON_DATABASE_URL"].startswith("postgresql://")
        assert env["TYPHOON_REDIS_URL"].startswith("redis://")
        assert services[name]["stop_grace_period"]
    # Every `typhoon …` command the file runs exists (checked through the CLI's Typer app,
    # in this process: an interpreter start-up per command proved nothing more).
    commands = [services[n]["command"] for n in services if "command" in services[n]]
    checks = [s["healthcheck"]["test"] for s in services.values() if "healthcheck" in s]
    commands += [test[1:] for test in checks if test[1:2] == ["typhoon"]]
    for command in commands:
        if command[0] != "typhoon":
            continue
        args = [a for a in command[1:] if not a.startswith("--") and a not in ("0.0.0.0", "8000")]
        out = typhoon(*args, "--help")
        assert out.returncode == 0, f"`typhoon {' '.join(args)}` does not exist: {out.stderr}"


def _spec() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


APP_SERVICES = ("api", "worker", "scheduler")


def test_no_password_in_the_file_and_the_app_is_not_the_owner():
    spec = _spec()
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD:" not in text  # only POSTGRES_PASSWORD_FILE
    for name, service in spec["services"].items():
        for key in service.get("environment") or {}:
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "_KEY")):
                assert key.endswith("_FILE") or key == "VAPID_PUBLIC_KEY", f"{name}: {key}"
        url = (service.get("environment") or {}).get("TYPHOON_DATABASE_URL", "")
        assert "@" not in url or ":" not in url.split("//", 1)[1].split("@")[0], url
    app_users = {
        spec["services"][n]["environment"]["TYPHOON_DATABASE_URL"].split("//")[1].split("@")[0]
        for n in APP_SERVICES
    }
    migrate = spec["services"]["migrate"]["environment"]
    owner = migrate["TYPHOON_DATABASE_URL"].split("//")[1].split("@")[0]
    assert app_users == {migrate["TYPHOON_DATABASE_APP_ROLE"]} and owner not in app_users
    assert "postgres" not in app_users | {owner}  # never the superuser


def test_secrets_are_docker_secrets_read_through_file_settings():
    spec = _spec()
    declared = spec["secrets"]
    for name, service in spec["services"].items():
        mounted = set(service.get("secrets") or [])
        assert mounted <= set(declared), name
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {key}"
    for secret in declared.values():
        assert secret["file"].startswith("./deploy/secrets/")
    assert "/deploy/secrets/" in (ROOT / ".gitignore").read_text()  # never committed


def test_only_the_proxy_is_published_and_the_api_scales():
    spec = _spec()
    published = {n for n, s in spec["services"].items() if s.get("ports")}
    assert published == {"proxy"}
    assert sorted(spec["services"]["proxy"]["ports"]) == ["443:443", "80:80"]
    api = spec["services"]["api"]
    assert "container_name" not in api and api["expose"] == ["8000"]
    proxy = spec["services"]["proxy"]
    env = proxy["environment"]
    assert env["TYPHOON_UPSTREAM_HOST"] == "api"  # every replica's address (DNS)
    assert "./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    # The API believes X-Forwarded-For from the proxy's fixed address only.
    address = proxy["networks"]["edge"]["ipv4_address"]
    assert spec["services"]["api"]["environment"]["TYPHOON_TRUSTED_PROXIES"] == address
    assert spec["services"]["api"]["environment"]["TYPHOON_PUBLIC_DETAILS"] == "false"


def test_photos_on_a_shared_volume_the_image_user_owns():
    spec = _spec()
    data_dir = spec["services"]["api"]["environment"]["TYPHOON_DATA_DIR"]
    for name in ("api", "scheduler"):  # the scheduler's retention purge removes old photos
        assert f"typhoon-data:{data_dir}" in spec["services"][name]["volumes"], name
    assert "typhoon-data" in spec["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"chown typhoon:typhoon {data_dir}" in dockerfile
    assert dockerfile.index(f"mkdir -p {data_dir}") < dockerfile.index("USER typhoon")


def test_restart_policies_log_rotation_and_pinned_images():
    spec = _spec()
    for name, service in spec["services"].items():
        if name != "migrate":  # a job: runs once per `up`
            assert service.get("restart") == "unless-stopped", name
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"] and logging["options"]["max-file"], name
        image = service.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{name}: {image}"
    base = next(
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("FROM ")
    )
    assert base.count(".") >= 2 and "latest" not in base, base  # python:3.11.x-…


def test_the_compose_database_layout_runs_for_real(tmp_path):
    """init-roles.sh (as the postgres image runs it on first start), the migrate job as the
    owner, then `typhoon serve` as the application role: it works, and it is no superuser
    and cannot rewrite the audit log."""
    import os
    import shutil as sh

    from sqlalchemy import text

    from emergency.db import make_engine
    from tests.conftest import PG_ADMIN_URL
    from tests.support import pg
    from tests.support.processes import start_api

    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL")
    if not sh.which("psql"):
        pytest.skip("psql is needed to run the init script")
    from sqlalchemy.engine import make_url

    admin = make_url(PG_ADMIN_URL)
    tag = f"{pg.PREFIX}_{os.getpid()}_{__import__('uuid').uuid4().hex[:6]}"
    names = {"db": f"{tag}_db", "owner": f"{tag}_owner", "app": f"{tag}_app"}
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "owner").write_text("owner-password\n")
    (secrets / "app").write_text("app-password\n")
    env = {
        **os.environ,
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "TYPHOON_DB_NAME": names["db"],
        "TYPHOON_DB_OWNER": names["owner"],
        "TYPHOON_DB_APP": names["app"],
        "TYPHOON_DB_OWNER_PASSWORD_FILE": str(secrets / "owner"),
        "TYPHOON_DB_APP_PASSWORD_FILE": str(secrets / "app"),
    }
    base = admin.set(database=names["db"])
    owner_url = base.set(username=names["owner"]).render_as_string(hide_password=False)
    app_url = base.set(username=names["app"]).render_as_string(hide_password=False)
    try:
        init = subprocess.run(
            ["sh", str(ROOT / "deploy" / "postgres" / "init-roles.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert init.returncode == 0, init.stderr
        migrated = subprocess.run(
            [sys.executable, "-m", "emergency", "db", "upgrade"],
            env={
                **os.environ,
                "TYPHOON_DATABASE_URL": owner_url,
                "TYPHOON_DATABASE_PASSWORD_FILE": str(secrets / "owner"),
                "TYPHOON_DATABASE_APP_ROLE": names["app"],
            },
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        assert migrated.returncode == 0, migrated.stderr
        api_env = {
            "TYPHOON_DATABASE_URL": app_url,
            "TYPHOON_DATABASE_PASSWORD_FILE": str(secrets / "app"),
            "TYPHOON_DATA_DIR": str(tmp_path / "data"),
        }
        with start_api(api_env, tmp_path / "api.log") as api:
            import httpx

            ready = httpx.get(f"{api.url}/readyz", timeout=10).json()
            assert ready["checks"] == {"database": "ok", "photos": "ok"}
        assert "as a superuser" not in (tmp_path / "api.log").read_text()
        engine = make_engine(app_url)
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                ).scalar_one()
                is False
            )
            owner = conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_entry'")
            ).scalar_one()
            assert owner == names["owner"]
            with pytest.raises(Exception, match="permission denied"):
                conn.execute(text("DELETE FROM audit_entry"))
        engine.dispose()
    finally:
        admin_engine = pg._admin(PG_ADMIN_URL)
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)'))
            for role in (names["app"], names["owner"]):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin_engine.dispose()


def test_a_process_connected_as_a_superuser_says_so(caplog):
    from tests.conftest import PG_ADMIN_URL

    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL")
    from emergency.runtime import Runtime
    from emergency.settings import load_settings

    runtime = Runtime.build(load_settings(TYPHOON_DATABASE_URL=PG_ADMIN_URL))  # postgres
    runtime.close()
    assert any("as a superuser" in r.getMessage() for r in caplog.records)


def _pins(lock: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, marker) of each pin in a lock (the first, where markers fork one)."""
    from packaging.utils import canonicalize_name

    pins: dict[str, tuple[str, str]] = {}
    for line in lock.read_text().splitlines():
        if not line or line[0] in " #":
            continue
        requirement, _, marker = line.rstrip(" \\").partition(" ; ")
        name, _, version = requirement.partition("==")
        pins.setdefault(canonicalize_name(name), (version, marker))
    return pins


def test_the_locks_pin_what_pyproject_asks_for_and_every_install_uses_them():
    """Reproducible installs (#17.7): each dependency of pyproject.toml (the app's and the dev
    extra's) is pinned in the lock at a version its range allows; the app's lock pins the same
    versions as the dev lock; every pin has hashes; make and the Dockerfile install from them."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev = _pins(ROOT / "requirements-dev.lock")
    app = _pins(ROOT / "requirements.lock")
    for locked, wanted in (
        (app, project["dependencies"]),
        (dev, project["dependencies"] + project["optional-dependencies"]["dev"]),
    ):
        for line in wanted:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{name} is not in the lock: run `make lock`"
            assert requirement.specifier.contains(locked[name][0], prereleases=True), (
                f"{name}=={locked[name][0]} is outside {requirement.specifier}: run `make lock`"
            )
    assert all(dev.get(name) == pin for name, pin in app.items()), "the locks disagree"
    for lock in ("requirements.lock", "requirements-dev.lock", "requirements-uv.lock"):
        lines = (ROOT / lock).read_text().splitlines()
        pinned = [line for line in lines if line and line[0] not in " #"]
        assert pinned and all(line.endswith("\\") for line in pinned), f"{lock}: no hashes"
    # What `make install` would run on a fresh clone (make -n: printed, not run): every
    # package comes from a hashed lock (the installer uv from its own), the project on top.
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    printed = subprocess.run(
        [make, "-n", "-B", ".venv/.installed"], cwd=ROOT, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    installs = [line for line in printed.stdout.splitlines() if " install " in line]
    assert installs, printed.stdout
    for line in installs:
        hashed = "--require-hashes -r requirements-" in line
        assert hashed or line.endswith("--no-deps -e ."), f"installs outside the locks: {line}"
    assert any("-r requirements-dev.lock" in line for line in installs)
    assert any("-r requirements-uv.lock" in line for line in installs)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile


def test_redis_has_a_password_and_its_acl_file(tmp_path):
    spec = _spec()
    redis = spec["services"]["redis"]
    assert redis["command"][-2:] == ["--aclfile", "/run/secrets/redis_acl"]
    assert redis["secrets"] == ["redis_acl"]
    for name in APP_SERVICES:
        env = spec["services"][name]["environment"]
        assert env["TYPHOON_REDIS_URL"] == "redis://typhoon@redis:6379/0"  # no password in it
        assert env["TYPHOON_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
        assert "redis_password" in spec["services"][name]["secrets"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]  # PING needs no user


@pytest.mark.one_db
def test_the_compose_redis_acl_lets_the_service_work_and_nobody_else(
    database_url, settings_for, tmp_path
):
    """deploy/make-secrets.sh's ACL file on a real redis-server: anonymous clients may only
    PING; the service's user, with its password from a file, runs the API's live stream and
    rate limits, the embedded worker (streams, rate slot, registry) and the scheduler's lock,
    but no administrative command and no key outside its prefix."""
    import redis as redis_lib

    from emergency.dispatch.service import check_health
    from emergency.liveness import LEADER_KEY
    from tests.support import server
    from tests.support.live import LiveClient
    from tests.support.outages import Unavailable, private_redis
    from tests.support.waits import wait_for

    deploy = tmp_path / "deploy"
    deploy.mkdir()
    shutil.copy(ROOT / "deploy" / "make-secrets.sh", deploy)
    subprocess.run(["sh", str(deploy / "make-secrets.sh")], check=True, capture_output=True)
    secrets = deploy / "secrets"
    password = (secrets / "redis_password").read_text().strip()
    try:
        context = private_redis("--aclfile", str(secrets / "redis_acl"))
        url, _restart = context.__enter__()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        anonymous = redis_lib.Redis.from_url(url)
        assert anonymous.ping()
        for command in (("GET", "typhoon:x"), ("FLUSHALL",), ("KEYS", "*")):
            with pytest.raises(redis_lib.exceptions.NoPermissionError):
                anonymous.execute_command(*command)
        host = url.removeprefix("redis://")
        service = redis_lib.Redis.from_url(f"redis://typhoon:{password}@{host}")
        service.set("typhoon:probe", "1")
        for command in (("FLUSHALL",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("GET", "x")):
            with pytest.raises(redis_lib.exceptions.NoPermissionError):
                service.execute_command(*command)
        settings = settings_for(
            database_url,
            TYPHOON_REDIS_URL=f"redis://typhoon@{host}",
            TYPHOON_REDIS_PASSWORD_FILE=str(secrets / "redis_password"),
            TYPHOON_REDIS_PREFIX="typhoon",
            TYPHOON_DATA_DIR=str(tmp_path / "data"),
        )
        assert password not in repr(settings)
        with server.run(settings, embedded_worker=True, embedded_scheduler=True) as app:
            ready = app.client.get("/readyz").json()
            assert ready["checks"]["redis"] == "ok", ready
            with LiveClient(app.ws_url, app.token("viewer")) as screen:
                screen.next()
                r = app.client.post(
                    "/api/v1/signals",
                    headers=app.auth("operator"),
                    json={"source": "SMG", "kind": "tropical_cyclone", "level": "3"},
                )
                assert r.status_code == 200, r.text
                assert screen.next_event(timeout=20)["type"] == "signal.changed"
            wait_for(lambda: service.get(f"typhoon:{LEADER_KEY}"), what="the scheduler's lock")
            wait_for(lambda: check_health(settings, "worker")[0], what="the worker registered")
    finally:
        context.__exit__(None, None, None)
