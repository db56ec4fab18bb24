"""Subscribers: phone numbers (E.164), languages, locations and zones, channels, opt-out,
browser push subscriptions, and the streaming CSV import.

- :mod:`alerts.subscribers.phones` — ``normalise_phone`` (Macau, then mainland, by default)
- :mod:`alerts.subscribers.fields` — checks of one subscriber's fields
- :mod:`alerts.subscribers.service` — add, upsert, opt-out, stats, push subscriptions
- :mod:`alerts.subscribers.importer` — ``import_csv``: a million rows in bounded memory
"""
