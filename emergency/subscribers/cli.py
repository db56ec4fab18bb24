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

subscribers_app = typer.Typer(
    help="Subscribers: bulk import; forget a person, export their data.", no_args_is_help=True
)


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
    from emergency.cli_support import cli_database, cli_settings, fail
    from geo.zones import ZoneError, load_zones

    settings = cli_settings()
    if default_language:
        try:
            default_language = normalise_language(default_language)
        except LanguageError as exc:
            fail(f"--default-language: {exc}")
    try:
        zones = load_zones(settings.config_dir / "zones")
    except ZoneError as exc:
        fail(str(exc))
    try:
        stream = file.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")

    reject_out = rejects.open("w", encoding="utf-8", newline="") if rejects else None
    writer = csv.writer(reject_out) if reject_out else None
    if writer:
        writer.writerow(["line", "reason"])

    def on_reject(rejected: Rejected) -> None:
        if writer:
            writer.writerow([rejected.line, rejected.reason])
        else:
            typer.echo(str(rejected), err=True)

    try:
        with cli_database(settings) as db:
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
        fail(f"{file}: {exc}")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
    finally:
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


@subscribers_app.command("forget")
def forget(
    phone: str = typer.Argument(..., help="the person's phone number (+853…, +86…, or local)"),
) -> None:
    """Remove a person everywhere their number leads (subscriber, push subscriptions,
    vulnerable-resident records, liaison contact, hotline logs, every message's address);
    audited by ids only. Run it again to check: nothing is found the second time."""
    from emergency.catalogue import load_catalogue
    from emergency.cli_support import cli_database, cli_settings, fail
    from emergency.exceptions import AppError
    from emergency.privacy import service as privacy_service

    settings = cli_settings()
    phones = privacy_service.liaison_file_phones(
        settings.config_dir, load_catalogue(settings.config_dir / "signals.yaml")
    )
    try:
        with cli_database(settings) as db, db.unit_of_work() as session:
            result = privacy_service.forget(session, phone=phone, actor="cli", config_phones=phones)
    except AppError as exc:
        fail(exc.message)
    if not result.found and not result.in_flight:
        typer.echo("nothing held for this number")
    else:
        typer.echo(
            f"forgotten: {len(result.subscribers)} subscriber(s), "
            f"{len(result.push_subscriptions)} push subscription(s), "
            f"{len(result.vulnerable_residents)} vulnerable-resident record(s) "
            f"({result.resident_checks} checks), {len(result.liaison_contacts)} liaison "
            f"contact(s), {len(result.hotline_calls)} hotline call(s), "
            f"{result.messages} message address(es), written in "
            f"{sum(len(ids) for ids in result.free_text.values())} note(s) or text(s)"
        )
    if result.in_flight:
        typer.echo(
            f"{result.in_flight} message(s) to this number are being sent right now: "
            "run this again in a minute to erase them",
            err=True,
        )
    if result.audit_mentions:
        typer.echo(
            f"the number is in the notes of {result.audit_mentions} audit entries: kept, "
            "the audit chain must stay whole",
            err=True,
        )
    if result.config_lists_it:
        typer.echo("config/liaison.yaml still lists this number: remove it there too", err=True)


@subscribers_app.command("export")
def export(
    phone: str = typer.Argument(..., help="the person's phone number"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the JSON here"),
) -> None:
    """Print (or write) as JSON everything held about a phone number (audited)."""
    import json

    from emergency.cli_support import cli_database, cli_settings, fail
    from emergency.exceptions import AppError
    from emergency.privacy import service as privacy_service

    try:
        with cli_database(cli_settings()) as db, db.unit_of_work() as session:
            data = privacy_service.export(session, phone=phone, actor="cli")
    except AppError as exc:
        fail(exc.message)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"written to {out}", err=True)
    else:
        typer.echo(text)
