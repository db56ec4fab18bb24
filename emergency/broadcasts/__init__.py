"""Broadcasts in the application: the HTTP API, the audited flows around
`alerts.broadcasts.service`, templates from config/, timed starts through the scheduler."""
