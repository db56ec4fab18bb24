"""Broadcasts: who a broadcast reaches (:mod:`alerts.broadcasts.audience`) and its life
cycle up to the outbox (:mod:`alerts.broadcasts.service`): approval, scheduling, the bulk
write of its messages, cancel. The sending itself is :mod:`alerts.dispatch`."""
