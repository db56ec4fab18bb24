"""The one error of the CAP package: CapError(code, message).

Codes (stable, used in API errors and tests):
  cap_too_large        the document is over the size limit (checked before parsing)
  cap_forbidden_dtd    a DOCTYPE, DTD or entity declaration (XXE, billion laughs) - refused
  cap_not_xml          not well-formed XML
  cap_schema_invalid   not valid against the OASIS CAP 1.2 schema (names the element)
  cap_rule_violation   valid XML, but breaks a CAP rule the schema cannot express
  cap_mapping_conflict one alert asserts two levels of the same signal
"""

from __future__ import annotations

from emergency.exceptions import AppError


class CapError(AppError, ValueError):
    status_code = 422
    code = "cap_invalid"

    def __init__(
        self, code: str, message: str, *, path: str | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message, code=code, status_code=413 if code == "cap_too_large" else 422)
        self.path = path  # the element the problem is at, e.g. /alert/info[1]/area[1]/polygon[1]
        self.problems = problems or [message]  # every problem found, when there were several

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
