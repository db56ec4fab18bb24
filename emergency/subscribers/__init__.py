"""Subscribers in the application: the HTTP API (stats, add one, opt-out, browser push
subscriptions and the VAPID key), the `typhoon subscribers import` command, demo data."""
