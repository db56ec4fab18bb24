"""Structured logging, configured once: JSON lines with the request id, and never a phone
number or a token (a filter masks them even if a message or a traceback carries one by
mistake), nor a field that holds what people wrote or who they are (PERSONAL_FIELDS). SQL
errors carry no parameters (emergency.db.HIDE_PARAMETERS)."""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Phone numbers: E.164, or bare Macau (8 digits from 6) and mainland (11 digits from 1) mobiles.
# Dates, times and ids stay readable. Plus bearer/API tokens and token= query parameters.
_PHONE = re.compile(r"\+\d{7,15}\b|(?<![\w.:-])(?:6\d{7}|1\d{10})(?![\w.:-])")
_TOKEN = re.compile(r"(tyh_[A-Za-z0-9_-]{8,}|Bearer\s+\S+|token=[^&\s]+)")


# Fields of a structured log line (`extra=`) that hold what people wrote or who they are:
# never logged, whatever their value.
PERSONAL_FIELDS = frozenset(
    {
        "phone",
        "to",
        "from",
        "from_phone",
        "address",
        "person",
        "resident",
        "note",
        "caller",
        "summary",
        "follow_up",
        "body",
        "text",
        "email",
        "place",
        "description",
    }
)
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


def redact(text: str) -> str:
    return _PHONE.sub("[phone]", _TOKEN.sub("[secret]", text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for key, value in list(vars(record).items()):
            if key in _RECORD_FIELDS:
                continue
            if key.lower() in PERSONAL_FIELDS:
                setattr(record, key, "[redacted]")
            elif isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info:  # a traceback's messages may quote a phone number or a token
            text = _TRACEBACKS.formatException(record.exc_info)
            record.exc_text = redact(_DB_DETAIL.sub(r"\1[hidden]", text))
            record.exc_info = None
        return True


_TRACEBACKS = logging.Formatter()
# PostgreSQL's DETAIL quotes the row's values ("Key (phone)=(+853…) already exists")
_DB_DETAIL = re.compile(r"^(DETAIL:\s*).*$", re.MULTILINE)


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "at", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's access log carries query strings (websocket tokens): ours replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per job run is noise
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
