"""What every `typhoon` command shares (emergency/cli.py and the domains' sub-commands):
the settings, read or refused with a clear error, and a database to work on."""

from __future__ import annotations

from typing import NoReturn

import typer

from emergency.db import Database
from emergency.settings import Settings, SettingsError, load_settings


def cli_settings() -> Settings:
    """The settings from the environment; a bad one exits 2 naming what is wrong."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command: "error: `message`" on stderr, exit `code` (2: what was asked is wrong,
    1: it could not be done)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code) from None


def cli_database(settings: Settings) -> Database:
    from emergency.runtime import application_name, pool_for

    pool_size, max_overflow = pool_for(settings, "cli")
    return Database(
        settings.connect_url(),
        pool_size=pool_size,
        max_overflow=max_overflow,
        application_name=application_name("cli"),
        audit_key=settings.secret("audit_key"),
    )
