"""Running the dispatch engine of `alerts.dispatch` in this application.

- `service`: providers, rate ceiling and worker built from settings; `DispatchHost` runs a
  worker embedded in the API process (app lifespan) or as `typhoon worker`; the live-worker
  registry in Redis and the `typhoon health worker|scheduler` checks.
- `status`: the workers sending without Redis now (in the database, for the snapshot).
- `scheduled`: the periodic jobs (reconciler, broadcast progress) listed in
  `emergency.scheduled.PERIODIC_JOBS`.
"""
