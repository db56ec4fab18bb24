"""`typhoon field link LABEL`: a field token for a team's phone, printed as a link and as a QR
code to scan (in the terminal, and as a PNG file with --qr for printing).

    typhoon field link "Inspection group 17" [--group ID] [--crew ID] [--qr group17.png]
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
) -> None:
    """Create a field user and print its link (the token is shown only this once)."""
    from emergency.cli import _database, _settings
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
    settings = _settings()
    db = _database(settings)
    try:
        with db.unit_of_work() as session:
            user, _token, url = field_service.create_field_link(
                session,
                label=label,
                actor="cli",
                public_url=settings.public_url,
                group_id=group,
                crew_id=crew,
            )
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if qr_file is not None:
        qr_file.write_bytes(qr.png(url))
    typer.echo(qr.terminal(url))
    typer.echo(f"field user {user.name}; scan the code above or open:")
    typer.echo(url)
