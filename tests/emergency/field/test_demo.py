"""The field demo data loads on a fresh database, twice without doubling anything."""

from __future__ import annotations

from emergency import demo
from emergency.db import Database
from emergency.situation import service as situation_service


def test_demo_loads_idempotently(database_url, settings_for, tmp_path):
    from emergency.catalogue import load_catalogue

    settings = settings_for(database_url, TYPHOON_DATA_DIR=str(tmp_path))
    db = Database(database_url)
    try:
        demo.load(db, settings)
        demo.load(db, settings)
        with db.session() as session:
            sit = situation_service.build(
                session, catalogue=load_catalogue(settings.config_dir / "signals.yaml")
            )
    finally:
        db.dispose()
    assert sit["crews"]["crews"] == 11 and sit["crews"]["people"] == 661
    assert sit["field"]["inspections"]["groups"] == 6
    assert sit["field"]["hazards"]["open"] == 4
    assert sit["vulnerable"]["total"] == 5
    assert sit["facilities"]["total"] == 6 and sit["evacuation"]["shelters"]["open"] == 2
