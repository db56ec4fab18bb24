"""Where each security check of the system is tested: one table, so the coverage is visible in
one place, and a test that fails when a listed test is renamed or removed.

Some checks live beside the feature they protect (the CAP parser's tests, the photo tests, the
webhook tests); this suite adds what was missing and lists the rest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECKS: dict[str, list[str]] = {
    "API fuzzing (schemathesis): no 5xx, every answer as documented, with and without a token": [
        "tests/security/test_fuzz_api.py::test_fuzz_as_admin",
        "tests/security/test_fuzz_api.py::test_fuzz_without_token",
        "tests/security/test_fuzz_findings.py::test_an_id_beyond_64_bits_is_422_not_500",
        "tests/security/test_fuzz_findings.py::test_assigning_a_hazard_to_an_unknown_crew_is_404",
        "tests/security/test_fuzz_findings.py::test_patching_a_contact_with_null_where_it_needs_a_value_is_422",
    ],
    "every mutating endpoint: no token → 401, nothing written": [
        "tests/security/test_roles.py::test_every_mutating_route_is_accounted_for",
        "tests/security/test_roles.py::test_no_token_is_401_and_writes_nothing",
        "tests/security/test_roles.py::test_every_read_needs_a_token_unless_listed_public",
    ],
    "/openapi.json documents our error body, 401 and 403 from the same dependencies": [
        "tests/security/test_roles.py::test_errors_are_documented_in_openapi",
    ],
    "every mutating endpoint: a role it does not allow → 403, nothing written": [
        "tests/security/test_roles.py::test_wrong_role_is_403_and_writes_nothing",
        "tests/security/test_roles.py::test_resident_check_is_refused_to_roles_that_do_not_follow_residents",
        "tests/emergency/field/test_field_reports.py::test_field_token_on_operator_endpoints_is_403",
    ],
    "approval of a broadcast by its drafter → 403 self_approval": [
        "tests/emergency/broadcasts/test_broadcasts_api.py::test_threshold_broadcast_waits_for_a_second_person",
        "tests/security/test_approval.py::test_an_admin_may_not_approve_their_own_broadcast",
    ],
    "Twilio webhooks: unsigned / wrongly signed / no auth token → 403; signed (SDK) → accepted": [
        "tests/emergency/broadcasts/test_webhooks.py::test_unsigned_or_wrong_signature_is_refused",
        "tests/emergency/broadcasts/test_webhooks.py::test_query_string_is_part_of_the_signed_url",
        "tests/emergency/broadcasts/test_webhooks.py::test_no_auth_token_means_every_webhook_is_refused",
        "tests/security/test_limits.py::test_correctly_signed_webhooks_are_never_throttled",
    ],
    "CAP: XXE, billion laughs, external DTD/entities, XInclude → 4xx, nothing stored or fetched": [
        "tests/emergency/cap/test_ingest.py::test_bad_alert_gets_4xx_and_stores_nothing",
        "tests/emergency/test_cap.py::test_dtds_are_refused_fast_without_leaking",
        "tests/emergency/test_cap.py::test_dtds_in_other_encodings_and_behind_long_comments_are_refused",
        "tests/security/test_cap_xml.py::test_hostile_cap_is_4xx_stores_nothing_fetches_nothing",
    ],
    "upload limits: oversized → 413, nothing stored": [
        "tests/emergency/field/test_photos.py::test_bad_uploads_are_refused_and_not_stored",
        "tests/emergency/cap/test_ingest.py::test_bad_alert_gets_4xx_and_stores_nothing",
        "tests/emergency/cap/test_ingest.py::test_oversize_is_refused_before_it_is_all_read",
        "tests/emergency/test_signals_api.py::test_oversized_body_is_413",
        "tests/security/test_limits.py::test_json_body_over_the_request_ceiling_is_413_and_stores_nothing",
        "tests/security/test_limits.py::test_webhook_form_over_64_kb_is_413_and_changes_nothing",
    ],
    "rate limits → 429: field reports and photos, webhooks, push subscriptions": [
        "tests/security/test_limits.py::test_field_reports_and_photos_are_rate_limited_per_user",
        "tests/security/test_limits.py::test_refused_webhook_calls_are_rate_limited_per_address",
        "tests/emergency/broadcasts/test_subscribers_api.py::test_public_push_endpoint_is_rate_limited",
    ],
}


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


@pytest.mark.parametrize("check", list(CHECKS))
def test_each_security_check_is_tested_somewhere(check):
    missing = []
    for ref in CHECKS[check]:
        path, _, name = ref.partition("::")
        file = ROOT / path
        if not file.exists() or name not in _tests_in(file):
            missing.append(ref)
    assert not missing, f"{check}: listed tests not found: {missing}"
