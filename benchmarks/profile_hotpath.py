"""Where a field report's API CPU goes, function by function (issue #18): the app in this
process (uvicorn in a thread, as the tests run it; PostgreSQL, Redis), one client sending
hazard reports one after the other (no two requests compete for the GIL, so what is counted
is work, not waiting), profiled with yappi on the CPU clock in every thread.

Prints (and writes under ``benchmarks/profiles/``) the CPU of the server's threads per report
and the inclusive CPU per report of the functions that make up each layer. yappi's own
tracing makes every figure larger (about 2×): read the shares, and take the absolute CPU per
report from ``bench_hotpath`` (no profiler, from /proc).

    python -m benchmarks.profile_hotpath [--reports 600] [--tag after]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from benchmarks.bench_load_reports import _report_body
from benchmarks.load_stack import DEFAULT_PG, DEFAULT_REDIS
from tests.support.server import free_port

HERE = Path(__file__).resolve().parent

# layer -> the functions whose inclusive CPU it is (module path fragment, function name)
LAYERS: list[tuple[str, list[tuple[str, str]]]] = [
    ("auth: bearer token → user (1 SELECT)", [("auth/dependencies.py", "current_user")]),
    (
        "role check + rate limit",
        [
            ("auth/dependencies.py", "admit"),
            ("field/dependencies.py", "check_field_rate"),
            ("field/dependencies.py", "field_rate_limit"),
        ],
    ),
    (
        "request body: JSON parse + pydantic validation",
        [
            ("fastapi/dependencies/utils.py", "request_body_to_args"),
            ("fastapi/routing.py", "_read_body"),
            ("field/report_route.py", "parse_body"),
            ("field/report_route.py", "validated"),
        ],
    ),
    (
        "field report: key, body hash, team+drill query, report INSERT",
        [
            ("field/flows.py", "_team"),
            ("field/flows.py", "_digest"),
            ("field/flows.py", "check_key"),
        ],
    ),
    ("hazard: INSERT (Core) + audit/event collected", [("field/service.py", "report_hazard")]),
    ("report result UPDATE (1 statement)", [("field/service.py", "settle_report")]),
    (
        "journal write before commit (chain head, totals, events: 3 statements)",
        [("emergency/journal_writer.py", "write")],
    ),
    ("  of which the totals (counters, 1 statement)", [("field/totals.py", "_resolve")]),
    ("live hub: reading events back (others' only)", [("live/hub.py", "_db_events_since")]),
    ("live hub: delivering this process's own", [("live/hub.py", "_own")]),
    ("commit (journal included)", [("orm/session.py", "commit")]),
    (
        "the whole handler (report, effects, commit, answer)",
        [("field/router.py", "post_field_report")],
    ),
    ("response JSON (pydantic dump + orjson)", [("field/flows.py", "public_json")]),
    ("event publish after commit (Redis)", [("events/service.py", "publish_committed")]),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)

    import uvicorn
    import yappi

    from benchmarks.bench_dispatch import bench_database
    from emergency.auth import service as auth_service
    from emergency.db import Database

    with bench_database(DEFAULT_PG) as db_url:
        tokens: list[str] = []
        db = Database(db_url)
        with db.unit_of_work() as session:
            for i in range(20):
                _, token = auth_service.create_user(
                    session, name=f"bench-field-{i}", role="field", actor="bench"
                )
                tokens.append(token)
        db.dispose()
        os.environ.update(
            TYPHOON_DATABASE_URL=db_url,
            TYPHOON_REDIS_URL=DEFAULT_REDIS,
            TYPHOON_REDIS_PREFIX=f"bench-profile-{uuid.uuid4().hex[:8]}",
            TYPHOON_PUBLIC_URL="http://127.0.0.1:9",
            TYPHOON_LOG_LEVEL="WARNING",
            TYPHOON_FIELD_RATE_LIMIT="0",
            TYPHOON_MAX_REQUESTS_PER_ADDRESS="0",
        )
        from emergency.app import create_app
        from emergency.settings import load_settings

        settings = load_settings()
        app = create_app(settings, embedded_worker=False, embedded_scheduler=False)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, port=port, log_level="warning", access_log=False, lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True, name="server")
        thread.start()
        url = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=url, timeout=30)
        while not server.started:
            time.sleep(0.05)

        class S:
            field_tokens = tokens

        def post(i: int) -> None:
            headers, body = _report_body(S, i)  # type: ignore[arg-type]
            answer = http.post("/api/v1/field-reports", json=body, headers=headers)
            assert answer.status_code == 201, answer.text

        for i in range(200):  # warm up
            post(i)
        # without the profiler: the server's CPU per report (the process's, less the client's)
        process0, client0 = time.process_time(), time.thread_time()
        for i in range(args.reports):
            post(100_000 + i)
        client = time.thread_time() - client0
        plain = (time.process_time() - process0 - client) * 1000 / args.reports
        print(f"without the profiler: server CPU {plain:.2f} ms per report", flush=True)
        main_thread = threading.get_ident()
        yappi.set_clock_type("cpu")
        yappi.start(builtins=False, profile_threads=True)
        for i in range(args.reports):
            post(1000 + i)
        yappi.stop()
        threads = yappi.get_thread_stats()
        server_cpu = sum(t.ttot for t in threads if t.tid != main_thread)
        per = 1000 / args.reports
        out = [
            f"without the profiler: the server's CPU {plain:.2f} ms per report (the process's "
            "CPU less the client thread's)",
            f"{args.reports} hazard reports, one client, in-process (yappi, CPU clock); server "
            f"threads' CPU {server_cpu * per:.2f} ms per report (inflated by the tracing)",
            "",
            "threads (ms per report):",
        ]
        for t in sorted(threads, key=lambda t: -t.ttot):
            if t.ttot * per > 0.01:
                who = "client (not counted)" if t.tid == main_thread else t.name
                out.append(f"  {t.ttot * per:7.2f}  {who}")
        stats = yappi.get_func_stats()
        by_name: dict[tuple[str, str], float] = {}
        for f in stats:
            if f.ctx_name == "_MainThread":
                continue
            key = (f.module, f.name)
            by_name[key] = by_name.get(key, 0.0) + f.ttot
        out += ["", "layers (inclusive CPU, ms per report, share of the server's CPU):"]
        for label, functions in LAYERS:
            total = sum(
                sec
                for (module, name), sec in by_name.items()
                for frag, fn in functions
                if module.endswith(frag) and name == fn
            )
            out.append(f"  {total * per:7.2f}  {total / server_cpu:6.1%}  {label}")
        out += ["", "top functions by inclusive CPU (server threads):"]
        ranked = sorted(by_name.items(), key=lambda kv: -kv[1])
        for (module, name), sec in ranked[:70]:
            short = module.split("site-packages/")[-1].replace(str(HERE.parent) + "/", "")
            out.append(f"  {sec * per:7.3f}  {name}  ({short})")
        text = "\n".join(out) + "\n"
        print(text)
        profiles = HERE / "profiles"
        profiles.mkdir(exist_ok=True)
        name = f"field-report-yappi{'-' + args.tag if args.tag else ''}.txt"
        (profiles / name).write_text(text)
        server.should_exit = True
        thread.join(30)
        http.close()


if __name__ == "__main__":
    sys.exit(main())
