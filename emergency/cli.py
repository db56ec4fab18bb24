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
    no_worker: bool = typer.Option(
        False, "--no-worker", help="do not run the dispatch worker here"
    ),
    no_scheduler: bool = typer.Option(
        False, "--no-scheduler", help="do not run the scheduler here"
    ),
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
    application = create_app(
        settings, demo=demo, embedded_worker=not no_worker, embedded_scheduler=not no_scheduler
    )
    if demo:  # the living demo: the Yagi-like scenario replayed as an exercise, in a loop
        from emergency.replay import demo as demo_replay

        application.state.mode["replay"] = demo_replay.SCENARIO
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        demo_replay.start(application, url=f"http://{local}:{port}", config_dir=settings.config_dir)
    typer.echo(f"serving on http://{host}:{port}")
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        timeout_graceful_shutdown=5,
    )


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
        typer.echo(
            "error: `typhoon worker` needs TYPHOON_REDIS_URL (without Redis the worker "
            "runs inside `typhoon serve`)",
            err=True,
        )
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


@app.command()
def replay(
    scenario: str = typer.Argument(..., help="a scenario file, or a name under config/scenarios/"),
    speed: float = typer.Option(60.0, min=1e-6, help="scenario seconds per real second"),
    url: str = typer.Option(None, help="the server (default TYPHOON_PUBLIC_URL)"),
    token: str = typer.Option(None, envvar="TYPHOON_TOKEN", help="an operator's token"),
) -> None:
    """Replay a storm timeline through a running server's API, as an exercise (drills, demos)."""
    from emergency.replay import service as replay_service
    from emergency.replay.driver import ReplayError

    settings = _settings()
    base = url or settings.public_url

    def step(index, s) -> None:
        typer.echo(f"{index + 1:3d}  {s.at.isoformat()}  {s.do}")

    try:
        outcome = replay_service.play(
            scenario,
            config_dir=settings.config_dir,
            url=base,
            token=token,
            speed=speed,
            on_step=step,
        )
    except replay_service.ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ReplayError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"replayed {outcome.steps} steps as an exercise on {base}")


@app.command()
def report(
    since: str = typer.Option(None, "--from", "--since", help="start (ISO date or time, Macau)"),
    until: str = typer.Option(None, "--to", help="end (default: now)"),
    fmt: str = typer.Option(
        None, "--format", help="md, html or pdf (default: from --out, else md)"
    ),
    out: Path = typer.Option(None, "--out", "-o", help="file to write (default: stdout)"),
    exercise: bool = typer.Option(False, "--exercise", help="the drills' signals and broadcasts"),
) -> None:
    """The after-action report: figures, signals, actions, broadcasts, field work, liaison."""
    from sqlalchemy.exc import SQLAlchemyError

    from emergency.report import service as report_service
    from emergency.report.render import ReportError

    settings = _settings()
    db = _database(settings)
    try:
        text = report_service.write(
            db,
            settings=settings,
            start=report_service.parse_time(since, "--from"),
            end=report_service.parse_time(until, "--to"),
            fmt=fmt,
            out=out,
            exercise=exercise,
        )
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        typer.echo(f"error: cannot write the report: {exc}".splitlines()[0], err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if text is not None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"report written to {out}", err=True)


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
    role: str = typer.Option(
        ..., "--role", help="admin, operator, approver, liaison, field, viewer"
    ),
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
