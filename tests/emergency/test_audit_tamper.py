"""The audit chain against someone with write access to the database (issue 20.5): a chain
rewritten with its hashes recomputed is caught by the seals (TYPHOON_AUDIT_KEY, a key outside
the database); a database restored from an older backup is caught by the anchor
(TYPHOON_AUDIT_ANCHOR_FILE); the application's role may not UPDATE or DELETE audit rows at
all. Real processes and the real CLI, as the README's backup and restore section runs them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from emergency.audit import service as audit_service
from emergency.audit.models import AuditEntry
from emergency.db import Database, make_engine
from tests.conftest import PG_ADMIN_URL
from tests.support import cli, pg
from tests.support.processes import start_api

ROOT = Path(__file__).resolve().parents[2]
AUDIT_KEY = "a key the database never sees"


def typhoon(env: dict[str, str], *args: str):
    """The command in this process (tests.support.cli): quicker, and its code is measured."""
    return cli.typhoon(*args, env=env)


def _operator(env: dict[str, str]) -> str:
    out = typhoon(env, "user", "add", "duty-officer", "--role", "operator")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _raise_signals(api_url: str, token: str, levels: list[str]) -> None:
    for level in levels:
        r = httpx.post(
            f"{api_url}/api/v1/signals",
            headers={"Authorization": f"Bearer {token}"},
            json={"source": "SMG", "kind": "tropical_cyclone", "level": level},
            timeout=30,
        )
        assert r.status_code == 200, r.text


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "secrets" / "audit_key"
    path.parent.mkdir()
    path.write_text(AUDIT_KEY + "\n")
    return path


def test_a_rewritten_chain_with_recomputed_hashes_is_detected(database_url, key_file, tmp_path):
    env = {
        "TYPHOON_DATABASE_URL": database_url,
        "TYPHOON_AUDIT_KEY_FILE": str(key_file),  # as a Docker secret is read
        "TYPHOON_DATA_DIR": str(tmp_path / "data"),
    }
    token = _operator(env)
    with start_api(env, tmp_path / "api.log") as api:
        _raise_signals(api.url, token, ["1", "3", "8NE"])
    ok = typhoon(env, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "seals" in ok.stdout

    # Someone with database access edits an entry and recomputes every hash from there on,
    # as `typhoon audit verify` without a key would accept.
    db = Database(database_url)
    with db.unit_of_work() as session:
        rows = session.query(AuditEntry).order_by(AuditEntry.seq).all()
        assert len(rows) >= 4 and all(r.seal for r in rows)
        victim = next(r for r in rows if r.action.startswith("signal."))
        victim.actor = "somebody-else"
        prev = audit_service.GENESIS
        for row in rows:
            if row.seq >= victim.seq:
                row.prev_hash = prev
                row.hash = audit_service.entry_hash(
                    seq=row.seq,
                    at=row.at,
                    actor=row.actor,
                    action=row.action,
                    target_type=row.target_type,
                    target_id=row.target_id,
                    summary=row.summary,
                    prev_hash=prev,
                )
            prev = row.hash
    with db.session() as session:
        assert audit_service.verify(session).ok  # the hashes alone say "intact"
    db.dispose()

    broken = typhoon(env, "audit", "verify")
    assert broken.returncode == 1
    assert f"row {victim.seq}: its seal does not match" in broken.stderr

    # Removing the seals does not help either.
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET seal = NULL"))
    engine.dispose()
    unsealed = typhoon(env, "audit", "verify")
    assert unsealed.returncode == 1
    assert "not sealed with TYPHOON_AUDIT_KEY" in unsealed.stderr


def test_rows_written_before_the_key_are_sealed_once_the_chain_checks_out(
    database_url, key_file, tmp_path
):
    plain = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_DATA_DIR": str(tmp_path / "data")}
    keyed = {**plain, "TYPHOON_AUDIT_KEY_FILE": str(key_file)}
    _operator(plain)  # audit rows written while no key was set
    no_key = typhoon(plain, "audit", "seal")
    assert no_key.returncode == 2 and "TYPHOON_AUDIT_KEY is not set" in no_key.stderr
    unsealed = typhoon(keyed, "audit", "verify")
    assert unsealed.returncode == 1 and "not sealed with TYPHOON_AUDIT_KEY" in unsealed.stderr

    sealed = typhoon(keyed, "audit", "seal")
    assert sealed.returncode == 0, sealed.stderr
    count = int(sealed.stdout.split()[1])
    assert count >= 1 and sealed.stdout.strip() == f"sealed {count} entries"
    assert typhoon(keyed, "audit", "verify").returncode == 0
    assert typhoon(keyed, "audit", "seal").stdout.strip() == "sealed 0 entries"  # once

    # A broken chain is never vouched for.
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'somebody-else', seal = NULL"))
    engine.dispose()
    refused = typhoon(keyed, "audit", "seal")
    assert refused.returncode == 1 and "the chain is broken; not sealing it" in refused.stderr


@pytest.mark.skipif(not shutil.which("pg_dump"), reason="pg_dump and pg_restore are needed")
def test_a_database_restored_from_an_older_backup_is_detected(database_url, key_file, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("the documented backup and restore is PostgreSQL's (pg_dump, pg_restore)")
    anchor = tmp_path / "anchor" / "audit.json"  # another volume in the deployment
    env = {
        "TYPHOON_DATABASE_URL": database_url,
        "TYPHOON_AUDIT_KEY_FILE": str(key_file),
        "TYPHOON_AUDIT_ANCHOR_FILE": str(anchor),
        "TYPHOON_DATA_DIR": str(tmp_path / "data"),
    }
    backup = tmp_path / "typhoon.dump"
    token = _operator(env)
    with start_api(env, tmp_path / "api.log") as api:
        _raise_signals(api.url, token, ["1", "3"])
        assert typhoon(env, "audit", "anchor").returncode == 0
        dump = subprocess.run(
            ["pg_dump", "--format=custom", f"--file={backup}", database_url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert dump.returncode == 0, dump.stderr
        _raise_signals(api.url, token, ["8NE", "9"])  # after the backup
    # The active scheduler keeps the anchor (the periodic job, run here once).
    from emergency.audit import scheduled as audit_jobs
    from emergency.runtime import Runtime
    from emergency.settings import load_settings

    runtime = Runtime.build(load_settings(**env))
    audit_jobs.write_anchor(runtime=runtime)
    runtime.close()
    anchored = audit_service.read_anchor(anchor)
    assert typhoon(env, "audit", "verify").returncode == 0

    restore = subprocess.run(
        ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={database_url}", backup],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restore.returncode == 0, restore.stderr
    verdict = typhoon(env, "audit", "verify")
    assert verdict.returncode == 1, verdict.stdout
    assert f"the anchor recorded row {anchored.seq}" in verdict.stderr
    assert "restored from an older backup" in verdict.stderr
    # Nothing moves the anchor back by itself: the evidence stays until someone decides.
    refused = typhoon(env, "audit", "anchor")
    assert refused.returncode == 1 and "restored from an older backup" in refused.stderr
    assert audit_service.read_anchor(anchor) == anchored

    accepted = typhoon(env, "audit", "anchor", "--accept-restore")
    assert accepted.returncode == 0, accepted.stderr
    assert f"the anchor had reached row {anchored.seq}" in accepted.stdout
    after = typhoon(env, "audit", "verify")
    assert after.returncode == 0, after.stderr
    db = Database(database_url)
    with db.session() as session:
        last = audit_service.latest(session)
    db.dispose()
    assert last.action == "audit.restore_accepted"
    assert last.summary["before"]["anchor_seq"] == anchored.seq


def test_the_application_role_cannot_rewrite_or_delete_audit_rows(database_url, tmp_path):
    """`typhoon db upgrade` with TYPHOON_DATABASE_APP_ROLE grants the role the service's work
    and no more: the API runs as it, and it can neither UPDATE nor DELETE an audit row, nor
    change the schema."""
    if database_url.startswith("sqlite"):
        pytest.skip("database roles are PostgreSQL's")
    role = pg.make_role(PG_ADMIN_URL)
    try:
        owner_env = {"TYPHOON_DATABASE_URL": database_url, "TYPHOON_DATABASE_APP_ROLE": role}
        upgraded = typhoon(owner_env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        app_url = pg.as_role(database_url, role)
        app_env = {"TYPHOON_DATABASE_URL": app_url, "TYPHOON_DATA_DIR": str(tmp_path / "d")}
        token = _operator(app_env)
        with start_api(app_env, tmp_path / "api.log") as api:
            _raise_signals(api.url, token, ["1", "3"])
        engine = make_engine(app_url)
        denied = []
        for statement in (
            "UPDATE audit_entry SET actor = 'x' WHERE seq = 1",
            "DELETE FROM audit_entry WHERE seq = 1",
            "TRUNCATE audit_entry",
            "ALTER TABLE audit_entry ADD COLUMN x int",
            "CREATE TABLE mine (id int)",
            "UPDATE alembic_version SET version_num = version_num",
        ):
            with engine.connect() as conn:
                try:
                    conn.execute(text(statement))
                except Exception as exc:
                    denied.append(getattr(exc.orig, "sqlstate", None))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() >= 3
            superuser = conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar_one()
        engine.dispose()
        assert superuser is False
        # 42501 insufficient_privilege; ALTER by a non-owner is 42501 as well
        assert denied == ["42501"] * 6
        assert typhoon(app_env, "audit", "verify").returncode == 0
    finally:
        pg.drop(PG_ADMIN_URL, database_url)
        pg.drop_role(PG_ADMIN_URL, role)
