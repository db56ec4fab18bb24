"""Per-test PostgreSQL databases, cloned from one migrated template per run, so runs and
tests never collide (names carry the process id and a random part)."""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PREFIX = "typhoon_t"


def _admin(url: str):
    return create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def make_template(admin_url: str) -> str:
    from emergency import migrate

    name = f"{PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:6]}_tmpl"
    engine = _admin(admin_url)
    with engine.connect() as conn:
        _drop_stale(conn)
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    migrate.upgrade(_with_db(admin_url, name))
    return name


def clone(admin_url: str, template: str) -> str:
    name = f"{PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine.dispose()
    return _with_db(admin_url, name)


def drop(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _drop_stale(conn) -> None:
    # Databases left by runs that were killed: their process is gone.
    rows = (
        conn.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{PREFIX}_%"}
        )
        .scalars()
        .all()
    )
    for name in rows:
        pid = name.split("_")[2] if name.count("_") >= 3 else ""
        if pid.isdigit() and not _alive(int(pid)):
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_role(admin_url: str) -> str:
    """A login role of this test's own (roles are server-wide: the name carries the pid)."""
    name = f"{PREFIX}_{os.getpid()}_{uuid.uuid4().hex[:8]}_app"
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE'))
    engine.dispose()
    return name


def as_role(url: str, role: str) -> str:
    """`url` (of a test database) connecting as `role` instead."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def drop_role(admin_url: str, role: str) -> None:
    """Drop a role made by make_role, once the databases it had privileges in are dropped."""
    engine = _admin(admin_url)
    with engine.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    engine.dispose()
