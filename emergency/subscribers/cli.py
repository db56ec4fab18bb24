"""`typhoon subscribers …`: the bulk import of a subscriber list (CONTRACT.md).

    typhoon subscribers import FILE.csv [--rejects REJECTS.csv] [--default-language zh-Hans]

Streams the file (a million rows in bounded memory), commits every 5,000 rows, and prints
`added N, updated M, rejected K` on stdout. Each rejected row is reported with its line
number and reason: on stderr, or as CSV (`line,reason`) in the --rejects file. Exit status
0 when the file was read to the end (even with rejected rows), 2 when it could not be read.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import typer

subscribers_app = typer.Typer(help="Subscribers: bulk import.", no_args_is_help=True)


@subscribers_app.command("import")
def import_file(
    file: Path = typer.Argument(
        ..., help="CSV, UTF-8, header phone,language,lat,lon[,name,zone,channels,tags]"
    ),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="write rejected rows here (CSV: line,reason) instead of to stderr"
    ),
    default_language: str | None = typer.Option(
        None, "--default-language", help="for rows whose language is empty (e.g. zh-Hans)"
    ),
    batch_size: int = typer.Option(
        5000, "--batch-size", min=100, max=50_000, help="rows per transaction"
    ),
) -> None:
    """Add or update subscribers from a CSV file; a later row for a phone wins."""
    from alerts.languages import LanguageError, normalise_language
    from alerts.subscribers.importer import ImportFileError, Rejected, import_csv
    from emergency.audit import service as audit_service
    from emergency.cli import _database, _settings
    from geo.zones import ZoneError, load_zones

    settings = _settings()
    if default_language:
        try:
            default_language = normalise_language(default_language)
        except LanguageError as exc:
            typer.echo(f"error: --default-language: {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        zones = load_zones(settings.config_dir / "zones")
    except ZoneError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        stream = file.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None

    reject_out = rejects.open("w", encoding="utf-8", newline="") if rejects else None
    writer = csv.writer(reject_out) if reject_out else None
    if writer:
        writer.writerow(["line", "reason"])

    def on_reject(rejected: Rejected) -> None:
        if writer:
            writer.writerow([rejected.line, rejected.reason])
        else:
            typer.echo(str(rejected), err=True)

    db = _database(settings)
    try:
        with stream:
            summary = import_csv(
                stream,
                transaction=db.unit_of_work,
                zones=zones,
                on_reject=on_reject,
                default_language=default_language,
                batch_size=batch_size,
            )
        with db.unit_of_work() as session:
            audit_service.record(
                session,
                actor="cli",
                action="subscribers.imported",
                target_type="subscriber_file",
                target_id=file.name,
                after=summary.as_dict(),
            )
    except ImportFileError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    except UnicodeDecodeError as exc:
        typer.echo(
            f"error: {file} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8",
            err=True,
        )
        raise typer.Exit(2) from None
    finally:
        db.dispose()
        if reject_out:
            reject_out.close()
    typer.echo(
        f"added {summary.added}, updated {summary.updated}, rejected {summary.rejected} "
        f"({summary.rows} rows in {summary.seconds:.1f} s, "
        f"{summary.rows_per_second:,.0f} rows/s)"
    )
    if rejects and summary.rejected:
        typer.echo(f"rejected rows with their reasons: {rejects}")
    sys.stdout.flush()
