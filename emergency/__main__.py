"""`python -m emergency …` is the `typhoon` command."""

from emergency.cli import app

app(prog_name="typhoon")
