"""`typhoon field link LABEL`: a field token for a team's phone, printed as a link and as a QR
code to scan (in the terminal, and as a PNG file with --qr for printing).

    typhoon field link "Inspection group 17" [--group ID] [--crew ID] [--qr group17.png] [--drill]

`--drill` issues the link for a drill: everything reported through it is an exercise record.
"""

from __future__ import annotations

from pathlib import Path

import typer

field_app = typer.Typer(
    help="Field teams: links and QR codes for their phones.", no_args_is_help=True
)


@field_app.command("link")
def link(
    label: str = typer.Argument(..., help="who carries the phone, e.g. 'Inspection group 17'"),
    group: int | None = typer.Option(None, "--group", help="inspection group id"),
    crew: int | None = typer.Option(None, "--crew", help="standby crew id"),
    qr_file: Path | None = typer.Option(None, "--qr", help="also write the QR code as PNG here"),
    drill: bool = typer.Option(
        False, "--drill", help="for a drill: everything reported through it is an exercise"
    ),
    expires: str | None = typer.Option(
        None, "--expires", help="the token stops working after this long: 90m, 24h, 7d"
    ),
) -> None:
    """Create a field user and print its link (the token is shown only this once)."""
    from emergency.cli_support import cli_database, cli_settings
    from emergency.clock import local_iso
    from emergency.exceptions import AppError
    from emergency.field import qr
    from emergency.field import service as field_service

    label = label.strip()
    if not 1 <= len(label) <= 60:
        typer.echo("error: LABEL must be 1 to 60 characters", err=True)
        raise typer.Exit(2)
    if qr_file is not None and not qr_file.parent.is_dir():
        typer.echo(f"error: --qr: folder {qr_file.parent} does not exist", err=True)
        raise typer.Exit(2)
    from emergency.auth.service import parse_duration
    from emergency.db import utcnow

    expires_at = None
    if expires is not None:
        try:
            expires_at = utcnow() + parse_duration(expires)
        except AppError as exc:
            typer.echo(f"error: --{exc.message}", err=True)
            raise typer.Exit(2) from None
    settings = cli_settings()
    db = cli_database(settings)
    try:
        with db.unit_of_work() as session:
            user, _token, url = field_service.create_field_link(
                session,
                label=label,
                actor="cli",
                public_url=settings.public_url,
                group_id=group,
                crew_id=crew,
                exercise=drill,
                expires_at=expires_at,
            )
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if qr_file is not None:
        qr_file.write_bytes(qr.png(url))
    typer.echo(qr.terminal(url))
    kind = "drill field user" if drill else "field user"
    until = f"; it works until {local_iso(expires_at)} (Macau)" if expires_at else ""
    typer.echo(f"{kind} {user.name}{until}; scan the code above or open:")
    typer.echo(url)
