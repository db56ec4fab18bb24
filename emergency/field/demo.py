"""Demo data of the field-operation domains, for `typhoon serve --demo`: the shape of the
Typhoon Yagi operation at a smaller scale (inspection groups, the 11 standby crews of ~60
people, shelters, a few hazards, vulnerable residents with obviously fake names), and the
demo user `field-team-1` bound to inspection group 1, so its token opens the field form
(`/field#token=…`, the token is on the page at /). Idempotent: adds nothing twice.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from emergency.auth import service as auth_service
from emergency.auth.models import Role
from emergency.config import ConfigSet
from emergency.crews import service as crew_service
from emergency.db import Database, stored_id
from emergency.evacuation import service as evacuation_service
from emergency.field import service as field_service
from emergency.field.models import FieldAccount, InspectionGroup
from emergency.startup import seed_reference_data
from emergency.vulnerable import service as vulnerable_service

log = logging.getLogger(__name__)

GROUPS = [
    ("Inspection group 1", ["lianhua"], ["Chen Wei", "Leong Ka Man", "Wong Hoi"], ["粤C·D1001"]),
    (
        "Inspection group 2",
        ["xinjiayuan"],
        ["Li Na", "Ho Sio Lam", "Zhang Jun", "Lei Ian"],
        ["粤C·D1002"],
    ),
    ("Inspection group 3", ["xiaohengqin"], ["Liu Yang", "Cheang Man"], ["粤C·D1003"]),
    ("Inspection group 4", ["fuxiangwan"], ["Huang Min", "Lam Chi", "Sun Hao"], []),
    (
        "Inspection group 5",
        ["hengqin_port", "north_shore_works"],
        ["Zhao Lei", "Ip Wa", "Kuok Fai"],
        ["粤C·D1005", "粤C·D1006"],
    ),
    ("Inspection group 6", ["macau_new_neighbourhood"], ["Tang Li", "U Kin"], ["粤C·D1007"]),
]
STATIONS = [
    "Lianhua fire station",
    "Hengqin Port",
    "Xiaohengqin community centre",
    "Xinjiayuan community centre",
    "Fuxiangwan",
    "Macau New Neighbourhood",
    "University of Macau east gate",
    "North shore works",
    "Hengqin school",
    "Changlong",
    "Shizimen",
]
HAZARDS = [
    ("fallen_tree", "high", 22.1415, 113.5412, "Lianhua Rd by the bus stop"),
    ("loose_object", "medium", 22.1302, 113.5215, "scaffolding, Xinjiayuan block 3"),
    ("flooding", "critical", 22.1372, 113.5488, "underpass near Hengqin Port"),
    ("construction_site", "high", 22.1455, 113.5301, "tower crane not weather-vaned"),
]
RESIDENTS = [
    ("Demo Resident 01", "Xiaohengqin, block 1 (demo)", "xiaohengqin", "wheelchair"),
    ("Demo Resident 02", "Xiaohengqin, block 4 (demo)", "xiaohengqin", "lives alone, 86"),
    ("Demo Resident 03", "Xinjiayuan, house 12 (demo)", "xinjiayuan", "oxygen at home"),
    ("Demo Resident 04", "Lianhua, flat 5B (demo)", "lianhua", "hearing impaired"),
    ("Demo Resident 05", "Fuxiangwan, house 3 (demo)", "fuxiangwan", "bedridden"),
]


def load(db: Database, config: ConfigSet) -> None:
    seed_reference_data(db, config)
    zones = config.zones
    with db.unit_of_work() as session:
        if session.exec(select(InspectionGroup)).first() is not None:
            return
        groups = [
            field_service.create_group(
                session,
                name=name,
                actor="demo",
                members=members,
                vehicles=vehicles,
                zone_ids=zone_ids,
                zones=zones,
                leader=members[0],
            )
            for name, zone_ids, members, vehicles in GROUPS
        ]
        for i, station in enumerate(STATIONS, start=1):
            crew_service.create_crew(
                session,
                name=f"Standby rescue team {i}",
                unit="demo",
                headcount=60 if i != 11 else 61,
                station=station,
                actor="demo",
                status="released",
            )
        for shelter_id in ("lianhua_sports_hall", "hengqin_hou_kong_school"):
            evacuation_service.set_shelter_open(
                session,
                shelter_id=shelter_id,
                open=True,
                actor="demo",
                origin="demo",
                exercise=True,
            )
        for kind, severity, lat, lon, place in HAZARDS:
            field_service.report_hazard(
                session,
                kind=kind,
                severity=severity,
                lat=lat,
                lon=lon,
                place=place,
                actor="demo",
                group_id=groups[0].id,
                zones=zones,
                exercise=True,  # demo data: never a real alarm, escalation SMS or figure
            )
        team = auth_service.get_by_name(session, "field-team-1")
        if team is not None and team.demo and session.get(FieldAccount, team.id) is None:
            session.add(
                FieldAccount(user_id=stored_id(team), label=groups[0].name, group_id=groups[0].id)
            )
        worker = auth_service.get_by_name(session, "social-worker-demo")
        if worker is None:
            worker, _ = auth_service.create_user(
                session, name="social-worker-demo", role=Role.field, actor="demo", demo=True
            )
            session.add(FieldAccount(user_id=stored_id(worker), label="Social worker (demo)"))
        session.flush()
        for name, address, community, needs in RESIDENTS:
            vulnerable_service.create_resident(
                session,
                name=name,
                address=address,
                community=community,
                needs=needs,
                social_worker="Social worker (demo)",
                followed_by=worker.name,
                actor="demo",
                zones=zones,
            )
    log.info("field demo data ready")
