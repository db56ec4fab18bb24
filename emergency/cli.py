"""The `typhoon` command line (CONTRACT.md). Output for people goes to stdout; errors name what
is wrong and exit non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from sqlmodel import Session

from emergency.cli_support import cli_database, cli_settings, fail
from emergency.field.cli import field_app
from emergency.replay.scenario import Step
from emergency.settings import Settings
from emergency.subscribers.cli import subscribers_app

app = typer.Typer(help="Hengqin typhoon coordination and alert dispatch.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention of residents' data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(subscribers_app, name="subscribers")  # emergency/subscribers/cli.py
app.add_typer(field_app, name="field")  # emergency/field/cli.py

T = TypeVar("T")


def _migrate(settings: Settings) -> None:
    """Migrations to head (waiting for another upgrade, retrying behind long transactions),
    then the application role's privileges (TYPHOON_DATABASE_APP_ROLE)."""
    from emergency import migrate as migrations

    def said(attempt: int, pause: float) -> None:
        typer.echo(
            f"attempt {attempt}: a table is locked by another transaction; "
            f"trying again in {pause:.1f} s",
            err=True,
        )

    try:
        migrations.upgrade(
            settings.connect_url(),
            lock_timeout=settings.migration_lock_timeout,
            on_retry=said,
            on_wait=lambda: typer.echo(
                "another `typhoon db upgrade` is running: waiting for it", err=True
            ),
        )
        if settings.database_app_role:
            migrations.grant_app_role(settings.connect_url(), settings.database_app_role)
    except (migrations.MigrationLockTimeout, migrations.AppRoleError) as exc:
        fail(str(exc), 1)


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

    from emergency.app import create_app
    from emergency.logs import configure_logging
    from emergency.serving import served_settings, uvicorn_options

    settings = served_settings(cli_settings(), host, port)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if migrate:
        _migrate(settings)
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
        **uvicorn_options(settings),
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

    from emergency.configfiles import ConfigFileError
    from emergency.logs import configure_logging
    from emergency.runtime import Runtime
    from emergency.scheduler import Scheduler
    from emergency.startup import startup

    settings = cli_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    runtime = Runtime.build(settings, role="scheduler")
    try:
        startup(runtime)
    except ConfigFileError as exc:  # a bad config file stops the scheduler here
        runtime.close()
        fail(str(exc))
    sched = runtime.scheduler = Scheduler(runtime)
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

    settings = cli_settings()
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

    ok, message = check_health(cli_settings(), component)
    typer.echo(message, err=not ok)
    raise typer.Exit(0 if ok else 1)


@app.command()
def replay(
    scenario: str = typer.Argument(..., help="a scenario file, or a name under config/scenarios/"),
    speed: float = typer.Option(60.0, min=1e-6, help="scenario seconds per real second"),
    url: str = typer.Option(None, help="the server (default TYPHOON_PUBLIC_URL)"),
    token: str = typer.Option(None, envvar="TYPHOON_TOKEN", help="an operator's token"),
    approver_token: str = typer.Option(
        None,
        envvar="TYPHOON_APPROVER_TOKEN",
        help="a second person's (an approver's) token for the scenario's approve steps; "
        "without it those broadcasts wait for an approver at the dashboard",
    ),
) -> None:
    """Replay a storm timeline through a running server's API, as an exercise (drills, demos).

    A drill level someone else set by hand (their own drill) is left alone."""
    from emergency.replay import service as replay_service
    from emergency.replay.driver import ReplayError

    settings = cli_settings()
    base = url or settings.public_url

    def step(index: int, s: Step) -> None:
        typer.echo(f"{index + 1:3d}  {s.at.isoformat()}  {s.do}")

    try:
        outcome = replay_service.play(
            scenario,
            config_dir=settings.config_dir,
            url=base,
            token=token,
            speed=speed,
            approver_token=approver_token,
            on_step=step,
        )
    except replay_service.ScenarioError as exc:
        fail(str(exc))
    except ReplayError as exc:
        fail(str(exc), 1)
    for signal in outcome.left_alone:
        typer.echo(f"left alone: {signal}, someone's own drill (set by hand by another person)")
    for broadcast_id in outcome.awaiting_approval:
        typer.echo(f"broadcast #{broadcast_id} awaits a second person's approval at the dashboard")
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
    lang: str = typer.Option("en", "--lang", help="zh-Hans, zh-Hant, pt or en"),
) -> None:
    """The after-action report, fit for superiors: letterhead, summary, key decisions, the
    command post's figures, charts, signals, broadcasts, field work, liaison, sign-off."""
    from sqlalchemy.exc import SQLAlchemyError

    from emergency.report import service as report_service
    from emergency.report.render import ReportError

    settings = cli_settings()
    try:
        with cli_database(settings) as db:
            text = report_service.write(
                db,
                settings=settings,
                start=report_service.parse_time(since, "--from"),
                end=report_service.parse_time(until, "--to"),
                fmt=fmt,
                out=out,
                exercise=exercise,
                lang=lang,
            )
    except ReportError as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        fail(f"cannot write the report: {exc}".splitlines()[0], 1)
    if text is not None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"report written to {out}", err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest (one upgrade at a time: a second waits for
    the first); then grant TYPHOON_DATABASE_APP_ROLE what the service needs."""
    settings = cli_settings()
    _migrate(settings)
    typer.echo("database is up to date")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="user name (unique)"),
    role: str = typer.Option(
        ..., "--role", help="admin, operator, approver, liaison, field, viewer"
    ),
    drill: bool = typer.Option(
        False, "--drill", help="a drill user: everything it does is an exercise, never real"
    ),
) -> None:
    """Create a user; print a one-time link to set its password (for the dashboard) and its
    API token once (the last line of output)."""
    from emergency.auth import service as auth_service
    from emergency.auth.sessions import service as session_service
    from emergency.drills import service as drill_service
    from emergency.exceptions import AppError

    settings = cli_settings()
    try:
        with cli_database(settings) as db, db.unit_of_work() as session:
            user, token = auth_service.create_user(session, name=name, role=role, actor="cli")
            if drill:
                drill_service.mark_drill_user(session, user=user, actor="cli", label="cli")
            link = session_service.issue_link(
                session, user=user, actor="cli", public_url=settings.public_url
            )
    except AppError as exc:
        fail(exc.message)
    kind = "drill user" if drill else "user"
    typer.echo(f"created {kind} {user.name} (role {user.role})")
    typer.echo(
        f"to set a password and sign in to the dashboard (once, within "
        f"{session_service.LINK_HOURS} h): {link}"
    )
    typer.echo("its API token, shown only once:")
    typer.echo(token)


@user_app.command("revoke")
def user_revoke(name: str = typer.Argument(..., help="user name")) -> None:
    """Revoke every token of a user (requests 401 at once; open live screens close within
    seconds, on every API process)."""
    from emergency.auth import service as auth_service

    revoked = _user_tokens(
        lambda session: auth_service.revoke_tokens(session, name=name, actor="cli")
    )
    typer.echo(f"revoked {revoked} token(s) of {name}")


@user_app.command("rotate")
def user_rotate(name: str = typer.Argument(..., help="user name")) -> None:
    """Revoke every token of a user and print a new one once (the last line of output)."""
    from emergency.auth import service as auth_service

    revoked, token = _user_tokens(
        lambda session: auth_service.rotate_token(session, name=name, actor="cli")
    )
    typer.echo(f"revoked {revoked} token(s) of {name}; its new token, shown only once:")
    typer.echo(token)


def _user_tokens(change: Callable[[Session], T]) -> T:
    from emergency.exceptions import AppError

    try:
        with cli_database(cli_settings()) as db, db.unit_of_work() as session:
            return change(session)
    except AppError as exc:
        fail(exc.message)


@user_app.command("password-link")
def user_password_link(name: str = typer.Argument(..., help="user name")) -> None:
    """Print a new one-time link to set (or reset) the user's password; older links stop
    working."""
    from emergency.auth import service as auth_service
    from emergency.auth.sessions import service as session_service

    settings = cli_settings()
    with cli_database(settings) as db, db.unit_of_work() as session:
        user = auth_service.get_by_name(session, name)
        if user is None:
            fail(f"no user {name!r}")
        link = session_service.issue_link(
            session, user=user, actor="cli", public_url=settings.public_url
        )
    typer.echo(link)


def _audit_key(settings: Settings) -> bytes | None:
    key = settings.secret("audit_key")
    return key.encode() if key else None


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain: every row's hash, its seal (with TYPHOON_AUDIT_KEY) and the
    anchor (TYPHOON_AUDIT_ANCHOR_FILE); exit 1 if any row was changed, deleted, rewritten or
    lost to a restore."""
    from emergency.audit import service as audit_service

    settings = cli_settings()
    try:
        anchor = (
            audit_service.read_anchor(settings.audit_anchor_file)
            if settings.audit_anchor_file
            else None
        )
    except audit_service.AnchorError as exc:
        fail(str(exc))
    with cli_database(settings) as db, db.session() as session:
        result = audit_service.verify(session, key=_audit_key(settings), anchor=anchor)
    checks = ["hashes"]
    checks.append("seals" if result.sealed else "no seals (TYPHOON_AUDIT_KEY unset)")
    checks.append(
        f"anchor at row {anchor.seq}"
        if anchor
        else "no anchor"
        + ("" if settings.audit_anchor_file else " (TYPHOON_AUDIT_ANCHOR_FILE unset)")
    )
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} entries verified ({', '.join(checks)})")
        return
    typer.echo(
        f"audit chain BROKEN ({result.checked} entries read; {', '.join(checks)}):", err=True
    )
    for problem in result.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("anchor")
def audit_anchor(
    accept_restore: bool = typer.Option(
        False,
        "--accept-restore",
        help="after restoring an older backup on purpose: record it and anchor the chain as it is",
    ),
) -> None:
    """Write the chain's latest row to TYPHOON_AUDIT_ANCHOR_FILE now (the scheduler does it
    every 30 s)."""
    from emergency.audit import service as audit_service

    settings = cli_settings()
    if not settings.audit_anchor_file:
        fail("TYPHOON_AUDIT_ANCHOR_FILE is not set")
    try:
        with cli_database(settings) as db:
            if accept_restore:
                with db.unit_of_work() as session:
                    old = audit_service.accept_restore(
                        session, settings.audit_anchor_file, actor="cli"
                    )
            with db.session() as session:
                anchor = audit_service.write_anchor(
                    session, settings.audit_anchor_file, force=accept_restore
                )
    except audit_service.AnchorError as exc:
        fail(str(exc), 1)
    if accept_restore and old is not None:
        typer.echo(f"restore recorded: the anchor had reached row {old.seq} ({old.at})")
    if anchor is None:
        typer.echo("the audit log is empty: nothing to anchor")
    else:
        typer.echo(
            f"anchored row {anchor.seq} ({anchor.hash[:16]}…) in {settings.audit_anchor_file}"
        )


@audit_app.command("seal")
def audit_seal() -> None:
    """Seal with TYPHOON_AUDIT_KEY the rows written before it was set. Run `typhoon audit
    verify` first: sealing vouches for the rows as they are."""
    from emergency.audit import service as audit_service

    settings = cli_settings()
    key = _audit_key(settings)
    if key is None:
        fail("TYPHOON_AUDIT_KEY is not set")
    with cli_database(settings) as db:
        with db.session() as session:
            result = audit_service.verify(session)
        if not result.ok:
            typer.echo("error: the chain is broken; not sealing it:", err=True)
            for problem in result.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1)
        with db.unit_of_work() as session:
            count = audit_service.seal_unsealed(session, key=key)
    typer.echo(f"sealed {count} entries")


@retention_app.command("purge")
def retention_purge() -> None:
    """Apply the retention rules now (the scheduler does it every hour): erase old message
    addresses, expired acknowledgement links, old photos and hotline logs, progress events."""
    from emergency.privacy import service as privacy_service

    settings = cli_settings()
    with cli_database(settings) as db:
        result = privacy_service.purge(db, settings=settings)
    typer.echo(", ".join(f"{name.replace('_', ' ')} {n}" for name, n in result.as_dict().items()))


def main() -> None:  # pragma: no cover
    app(prog_name=Path(sys.argv[0]).name)
