"""The `typhoon` command line (CONTRACT.md). Output for people goes to stdout; errors name what
is wrong and exit non-zero."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from emergency.field.cli import field_app
from emergency.settings import SettingsError, load_settings
from emergency.subscribers.cli import subscribers_app

app = typer.Typer(help="Hengqin typhoon coordination and alert dispatch.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(subscribers_app, name="subscribers")  # emergency/subscribers/cli.py
app.add_typer(field_app, name="field")  # emergency/field/cli.py


def _settings():
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _database(settings):
    from emergency.db import Database

    return Database(settings.database_url)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(8000, help="port"),
    demo: bool = typer.Option(False, "--demo", help="load demo users, zones and subscribers"),
    no_worker: bool = typer.Option(False, "--no-worker", help="do not run the dispatch worker here"),
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="do not run the scheduler here"),
    migrate: bool = typer.Option(True, "--migrate/--no-migrate", help="apply migrations first"),
) -> None:
    """API, live stream and pages; embedded worker and scheduler unless told not to."""
    import uvicorn

    from emergency import migrate as migrations
    from emergency.app import create_app
    from emergency.logs import configure_logging

    settings = _settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if migrate:
        migrations.upgrade(settings.database_url)
    application = create_app(settings, demo=demo, embedded_worker=not no_worker,
                             embedded_scheduler=not no_scheduler)
    typer.echo(f"serving on http://{host}:{port}")
    uvicorn.run(application, host=host, port=port, log_config=None, ws_ping_interval=20,
                ws_ping_timeout=20, timeout_graceful_shutdown=5)


@app.command()
def scheduler() -> None:
    """The scheduler process: periodic jobs and timed broadcasts; one is active at a time
    (a Redis leader lock), the others stand by and take over if it dies."""
    import signal
    import threading

    from emergency.logs import configure_logging
    from emergency.runtime import Runtime
    from emergency.scheduler import Scheduler

    settings = _settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    runtime = Runtime.build(settings)
    sched = Scheduler(runtime)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sched.start()
    typer.echo(f"scheduler {sched.node_id} started")
    stop.wait()
    sched.stop()
    runtime.close()


@app.command()
def worker() -> None:
    """A dispatch worker process (needs TYPHOON_REDIS_URL): sends the outbox's messages;
    SIGTERM finishes the sends in flight, stores their results and stops."""
    from emergency.dispatch.service import run_worker_process
    from emergency.logs import configure_logging

    settings = _settings()
    if not settings.redis_url:
        typer.echo("error: `typhoon worker` needs TYPHOON_REDIS_URL (without Redis the worker "
                   "runs inside `typhoon serve`)", err=True)
        raise typer.Exit(2)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    typer.echo("dispatch worker starting")
    run_worker_process(settings)


@app.command()
def health(component: str = typer.Argument(..., help="worker or scheduler")) -> None:
    """Health check for docker-compose: exit 0 if this container's worker (or a scheduler)
    has reported in recently, 1 otherwise."""
    from emergency.dispatch.service import check_health

    ok, message = check_health(_settings(), component)
    typer.echo(message, err=not ok)
    raise typer.Exit(0 if ok else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest."""
    from emergency import migrate as migrations

    settings = _settings()
    migrations.upgrade(settings.database_url)
    typer.echo("database is up to date")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="user name (unique)"),
    role: str = typer.Option(..., "--role", help="admin, operator, approver, liaison, field, viewer"),
) -> None:
    """Create a user and print its API token once (the last line of output)."""
    from emergency.auth import service as auth_service
    from emergency.exceptions import AppError

    db = _database(_settings())
    try:
        with db.unit_of_work() as session:
            user, token = auth_service.create_user(session, name=name, role=role, actor="cli")
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    typer.echo(f"created user {user.name} (role {user.role}); its token, shown only once:")
    typer.echo(token)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit log; exit 1 if any row was changed or deleted."""
    from emergency.audit import service as audit_service

    db = _database(_settings())
    try:
        with db.session() as session:
            result = audit_service.verify(session)
    finally:
        db.dispose()
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} entries verified")
        return
    typer.echo(f"audit chain BROKEN ({result.checked} entries read):", err=True)
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app(prog_name=Path(sys.argv[0]).name)
