"""Local fakes of the outside world that speak the real protocols, for tests and benchmarks.

- ``twilio_server``: a Twilio-compatible Messages API (the official SDK runs against it),
  with status callbacks signed like Twilio's and failure knobs (429, 500, slow answers).
- ``push_endpoint``: a web-push service that verifies VAPID and decrypts aes128gcm
  payloads like a browser, with knobs for 410 Gone / 404 / 429.

Both bind to 127.0.0.1 only and run either in a background thread (context managers) or
as their own process (``python -m alerts.testing.twilio_server``).
"""

from alerts.testing.push_endpoint import PushReceived, run_push_endpoint
from alerts.testing.twilio_server import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    Received,
    run_twilio_server,
)

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "PushReceived",
    "Received",
    "run_push_endpoint",
    "run_twilio_server",
]
