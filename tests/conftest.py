"""Shared fixtures: databases (SQLite always, PostgreSQL when TYPHOON_TEST_DATABASE_URL is set),
Redis when TYPHOON_TEST_REDIS_URL is set, and the real app served by uvicorn on a free port.

Scopes (CONTRIBUTING.md, Tests): each test module gets one database per backend
(`module_database`) and one app per app fixture; between tests the tables are emptied and
the rows the app seeded at start-up written back, and the app's in-memory state is reset
(`RunningApp.reset`), so each test starts as on a new database and a new app. Apps run with
no background worker or scheduler: `app.drain()` runs the queue and the due jobs.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support import dbstate, pg, server

PG_ADMIN_URL = os.environ.get("TYPHOON_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TYPHOON_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"]


# --- which databases a test runs on --------------------------------------------------------


SQLITE_ONLY_FIXTURES: set[str] = set()  # app fixtures made with app_fixture(..., one_db=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database runs on SQLite and PostgreSQL, unless marked
    `one_db` (its outcome cannot depend on the database: see CONTRIBUTING.md) or using an
    app fixture made for SQLite only (the browser tests' `live_app`)."""
    if "module_database" in metafunc.fixturenames:
        one = metafunc.definition.get_closest_marker("one_db") is not None
        one = one or not SQLITE_ONLY_FIXTURES.isdisjoint(metafunc.fixturenames)
        metafunc.parametrize(
            "module_database", BACKENDS[:1] if one else BACKENDS, indirect=True, scope="module"
        )


# --- how `make test` shares the two cores (pytest-xdist, --dist loadgroup) -------------------

# Tests that start service processes, private Redis/PostgreSQL proxies or a browser: one worker
# runs them one after the other, so they never compete with each other for the cores (the
# other worker meanwhile runs the rest). A new test of that kind: mark it `heavy`.
HEAVY_PATHS = (
    "tests/browser/",
    "tests/emergency/test_storm_",
    "tests/emergency/test_multiprocess.py",
    "tests/emergency/dispatch/test_processes.py",
    "tests/emergency/dispatch/test_restarts.py",
    "tests/emergency/test_scheduler.py",
    "tests/security/test_limits_shared.py",
    "tests/test_deploy.py",
    "tests/test_proxy.py",
)
# Long single tests that would hold up their module's worker: each is a group of its own.
ALONE_PATHS = ("tests/security/test_fuzz_api.py",)


GROUP = pytest.StashKey[str]()


def _group(item: pytest.Item) -> str:
    path = item.nodeid.split("::", 1)[0]
    if item.get_closest_marker("heavy") or path.startswith(HEAVY_PATHS):
        return "heavy"
    if path.startswith(ALONE_PATHS):  # no "[" or "]": xdist reads the group after the last "@"
        return "alone:" + item.name.translate(str.maketrans("[]", "()"))
    return path  # a module's tests together: its apps and database start once


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test joins its xdist group (`_group`), and the groups are collected longest
    first: the heavy group, then the long tests alone, then the modules by their number of
    tests. xdist hands the next group to whichever worker is free (the Makefile keeps this
    order with --no-loadscope-reorder, which otherwise sorts by size alone and would leave
    a long single test to the end), so the two workers finish close together."""
    for item in items:
        item.stash[GROUP] = _group(item)
    if getattr(config.option, "loadgroup", False):  # a worker of `pytest -n N --dist loadgroup`
        # xdist groups by a "@group" suffix of the node id; xdist 3.8 writes it to
        # `item._nodeid`, which pytest 9 no longer reads (the id is `item._id`), so every
        # test was a group of its own: modules' apps started on both workers, heavy tests
        # side by side. Written here instead.
        from _pytest.nodeid import NodeId

        for item in items:
            item._id = NodeId.parse(f"{item.nodeid}@{item.stash[GROUP]}")
    sizes = Counter(item.stash[GROUP] for item in items)

    def rank(item: pytest.Item) -> tuple[int, int]:
        group = item.stash[GROUP]
        if group == "heavy":
            return 0, 0
        if group.startswith("alone:"):
            return 1, 0
        return 2, -sizes[group]

    items.sort(key=rank)  # stable: a group's tests stay together and in their order


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    from emergency import migrate

    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_template() -> str | None:
    if not PG_ADMIN_URL:
        return None
    return pg.make_template(PG_ADMIN_URL)


class ModuleDatabase:
    """One migrated database for a test module and backend; `reset()` empties it again."""

    def __init__(self, backend: str, url: str) -> None:
        from sqlalchemy import create_engine

        self.backend = backend
        self.url = url
        self.apps: dict[str, server.RunningApp] = {}  # by fixture name (app_fixture)
        self._stack = ExitStack()
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.restorer = dbstate.Restorer(self.engine)
        self.migrated = dbstate.take(self.engine)  # the counters at zero

    def reset(self) -> None:
        self.restorer.restore(self.migrated)

    def start_app(self, name: str, settings, data_dir: Path, **kwargs) -> server.RunningApp:
        """Start an app on this database (kept until the module is done) and note its
        start-up state for `RunningApp.reset()`."""
        self.reset()
        running = self._stack.enter_context(server.run(settings, **kwargs))
        # Its data dir is emptied between tests only when it is the fixture's own.
        own = Path(settings.data_dir).resolve() == data_dir.resolve()
        running.remember_pristine(data_dir if own else None)
        self.apps[name] = running
        return running

    def close(self) -> None:
        self._stack.close()
        self.apps.clear()
        self.engine.dispose()


def _new_database(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "sqlite":
        path = folder / "typhoon.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    if not PG_ADMIN_URL:
        pytest.skip("PostgreSQL: set TYPHOON_TEST_DATABASE_URL to run these")
    return pg.clone(PG_ADMIN_URL, request.getfixturevalue("_pg_template"))


@pytest.fixture(scope="module")
def module_database(request, tmp_path_factory) -> Iterator[ModuleDatabase]:
    """The module's database on one backend (the test is parametrized over them)."""
    backend = request.param
    url = _new_database(backend, request, tmp_path_factory.mktemp("db"))
    database = ModuleDatabase(backend, url)
    try:
        yield database
    finally:
        database.close()
        if backend == "postgresql":
            pg.drop(PG_ADMIN_URL, url)


@pytest.fixture
def database_url(module_database: ModuleDatabase) -> str:
    """A migrated, empty database for this test (the module's, emptied before the test)."""
    module_database.reset()
    return module_database.url


@pytest.fixture
def fresh_database_url(request, tmp_path, module_database: ModuleDatabase) -> Iterator[str]:
    """A brand-new migrated database of this test's own, for the few tests that change more
    than rows (tables the app creates at start, e.g. the scheduler's job store)."""
    url = _new_database(module_database.backend, request, tmp_path)
    yield url
    if module_database.backend == "postgresql":
        pg.drop(PG_ADMIN_URL, url)


# --- Redis ---------------------------------------------------------------------------------


def new_redis_prefix() -> str:
    return f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _own_redis_prefix(monkeypatch) -> str:
    """Every test gets its own TYPHOON_REDIS_PREFIX (processes it starts inherit it), so tests
    and concurrent runs sharing one Redis never see each other's streams, channels or locks."""
    prefix = new_redis_prefix()
    monkeypatch.setenv("TYPHOON_REDIS_PREFIX", prefix)
    return prefix


@pytest.fixture
def redis_url(_own_redis_prefix):
    if not REDIS_URL:
        pytest.skip("Redis: set TYPHOON_TEST_REDIS_URL to run these")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("TYPHOON_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Redis at TYPHOON_TEST_REDIS_URL is not reachable: {exc}")
        pytest.skip(f"Redis at TYPHOON_TEST_REDIS_URL is not reachable: {exc}")
    yield REDIS_URL
    try:  # leave the shared Redis as we found it
        for key in client.scan_iter(f"{_own_redis_prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


# --- settings and apps ---------------------------------------------------------------------


def build_settings(database_url: str, **overrides: Any):
    """Settings for a test without reading the developer's environment by accident."""
    from emergency.settings import Settings

    values: dict[str, Any] = dict(
        TYPHOON_DATABASE_URL=database_url,
        TYPHOON_REDIS_URL=None,
        TWILIO_ACCOUNT_SID=None,
        TWILIO_AUTH_TOKEN=None,
        # Never the real Twilio: a test with credentials and no fake server gets refused here.
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        TYPHOON_LOG_FORMAT="text",
        TYPHOON_WS_PING_SECONDS=1.0,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings_for() -> Callable[..., Any]:
    """`settings_for(database_url, **ENV)`: Settings for a test (see build_settings)."""
    return build_settings


SettingsMaker = Callable[[pytest.FixtureRequest, str, Path], Any]


def app_fixture(name: str, make_settings: SettingsMaker, *, one_db: bool = False, **create_kwargs):
    """The fixture `<name>`: the real app, started once per module and database (it lives
    as long as `module_database`) and reset before each test to its start-up state (rows,
    caches, clock, data dir). With `@pytest.mark.background` the test gets instead an app of
    its own with the embedded dispatch worker and scheduler running, as `typhoon serve`
    has them.

    `make_settings(request, database_url, data_dir)` builds the app's Settings; in a
    conftest: `app = app_fixture("app", lambda request, url, data: build_settings(url))`.
    `one_db=True`: every test using it runs on SQLite only."""
    if one_db:
        SQLITE_ONLY_FIXTURES.add(name)

    @pytest.fixture(name=name)
    def per_test(request, database_url, module_database, tmp_path_factory):
        running = module_database.apps.get(name)
        if running is None:
            data_dir = tmp_path_factory.mktemp(f"{name}-data")
            settings = make_settings(request, module_database.url, data_dir).model_copy(
                update={"redis_prefix": new_redis_prefix()}
            )
            running = module_database.start_app(name, settings, data_dir, **create_kwargs)
        elif request.node.get_closest_marker("background") is None:
            running.reset()
        if request.node.get_closest_marker("background") is None:
            yield running
            return
        running.reset()
        kwargs = {**create_kwargs, "embedded_worker": True, "embedded_scheduler": True}
        with server.run(running.app.state.settings, **kwargs) as own:
            yield own

    return per_test


# `app_server`: the real app on a free port: `.client` (httpx), `.auth(role)`, `.token(role)`,
# `.db`, `.ws_url`, `.app`, `.drain()`, `.clock`.
app_server = app_fixture("app_server", lambda request, url, data: build_settings(url))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
