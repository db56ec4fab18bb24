"""Alembic environment: migrations run on the URL handed over by emergency.migrate."""

from alembic import context
from sqlalchemy import JSON
from sqlmodel import SQLModel

import emergency.models  # noqa: F401  (registers every table)
from alerts.sqltypes import UTCDateTime
from emergency.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as the plain SQL types they are in the database."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    # On PostgreSQL every statement gives up after lock_timeout (emergency.migrate retries the
    # whole upgrade), so an ALTER waiting for a long transaction never holds up reads for long.
    lock_timeout_ms = config.attributes.get("lock_timeout_ms")
    options = f"-c lock_timeout={int(lock_timeout_ms)}" if lock_timeout_ms else None
    engine = make_engine(url, pool_size=1, pg_options=options, application_name="typhoon-migrate")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE on SQLite
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
