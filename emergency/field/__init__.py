"""Field operations: inspection groups and their patrol trips, hazards and their
rectification, field reports from phones (idempotent), photos."""
