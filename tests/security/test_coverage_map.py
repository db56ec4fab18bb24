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
        "tests/security/test_limits.py::test_unsigned_calls_never_lock_out_signed_ones",
    ],
    "CAP: XXE, billion laughs, external DTD/entities, XInclude → 4xx, nothing stored or fetched": [
        "tests/emergency/cap/test_ingest.py::test_bad_alert_gets_4xx_and_stores_nothing",
        "tests/emergency/test_cap.py::test_dtds_are_refused_fast_without_leaking",
        "tests/emergency/test_cap.py::test_dtds_in_other_encodings_and_behind_long_comments_are_refused",
        "tests/security/test_cap_xml.py::test_hostile_cap_is_4xx_stores_nothing_fetches_nothing",
    ],
    "CAP parsing: structural limits before the schema (20,000 attributes → 4xx, /healthz "
    "answering meanwhile; timed by benchmarks/bench_hostile.py), the same for feeds "
    "(issue 14.2)": [
        "tests/security/test_cap_trust.py::test_attribute_bomb_is_refused_and_healthz_keeps_answering",
        "tests/security/test_cap_trust.py::test_a_feed_serving_the_attribute_bomb_fails_fast",
    ],
    "CAP trust: only trusted senders change a source's signals; a <sent> in the future is 422 "
    "and never the latest; refusals audited and prompted (issue 14.3)": [
        "tests/security/test_cap_trust.py::test_an_untrusted_sender_changes_no_signal_whatever_the_event_code",
        "tests/security/test_cap_trust.py::test_a_sent_in_the_future_is_refused_and_never_becomes_the_latest",
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
    # --- issue 14: what an attack on a running server got through (items 2, 3, 6 elsewhere)
    "#14.1 slow bodies: admission counts a request once its body arrived; 408 when it stops "
    "coming; a cap per address; no traceback": [
        "tests/security/test_slow_bodies.py::test_70_dribbling_sockets_do_not_starve_the_api",
        "tests/security/test_slow_bodies.py::test_a_body_that_stops_coming_is_408_and_one_address_holds_few",
    ],
    "#14.4 report: every HTML value escaped; PDF without scripts, files or network (CSP)": [
        "tests/security/test_report_rendering.py::test_html_report_escapes_what_people_wrote",
        "tests/security/test_report_rendering.py::test_pdf_is_printed_without_scripts_files_or_network",
        "tests/security/test_report_rendering.py::test_report_pdf_from_the_command_line_has_the_escaped_text",
    ],
    "#14.5 a field token acts only on its own group's or crew's hazards and tasks": [
        "tests/security/test_team_ownership.py::test_field_tokens_rectify_only_their_own_teams_hazards",
        "tests/security/test_team_ownership.py::test_assigned_to_another_team_leaves_the_reporting_group_out",
    ],
    "#14.7 webhooks: signature first, signed calls never limited; X-Forwarded-For only from "
    "TYPHOON_TRUSTED_PROXIES": [
        "tests/security/test_limits.py::test_unsigned_calls_never_lock_out_signed_ones",
        "tests/security/test_limits.py::test_forwarded_for_is_believed_only_from_trusted_proxies",
        "tests/security/test_limits.py::test_trusted_proxies_setting",
    ],
    "#14.8 live stream filtered per role as REST; photos not readable by viewers": [
        "tests/security/test_live_visibility.py::test_each_role_reads_on_the_stream_what_rest_lets_it_read",
        "tests/security/test_live_visibility.py::test_a_resumed_stream_is_filtered_too",
    ],
    "#20 (red review) a field token reads only its own team's photos": [
        "tests/security/test_team_ownership.py::test_field_tokens_read_only_their_own_teams_photos",
        "tests/security/test_team_ownership.py::test_a_field_token_cannot_claim_another_teams_photo_by_attaching_it",
    ],
    "#14.9 tokens revoked, rotated, expiring; a revoked token's websockets closed (4401) "
    "within 5 s on every process": [
        "tests/security/test_tokens.py::test_cli_revoke_and_rotate",
        "tests/security/test_tokens.py::test_admin_api_revokes_and_rotates",
        "tests/security/test_tokens.py::test_field_links_expire",
        "tests/security/test_tokens.py::test_revoked_tokens_websockets_close_within_5_s_on_every_process",
    ],
    "#14.10 subscriber CSV: a stray quote rejects its line alone; every line counted": [
        "tests/security/test_import_quotes.py::test_a_stray_quote_rejects_its_line_alone",
    ],
    "#14.11 no SQL parameters, personal fields or phones in logs and tracebacks": [
        "tests/security/test_log_redaction.py::test_sql_errors_carry_no_parameters",
        "tests/security/test_log_redaction.py::test_structured_logs_mask_personal_fields_and_tracebacks",
    ],
    "#14.12 extreme dates → 422": [
        "tests/security/test_extreme_dates.py::test_extreme_dates_are_422",
    ],
    "#14.13 liaison notice texts fit an SMS body (422)": [
        "tests/security/test_liaison_length.py::test_a_notice_too_long_for_an_sms_is_422",
    ],
    "#14.14 CSP and frame-ancestors on /field and the acknowledgement page; /docs local": [
        "tests/security/test_page_headers.py::test_field_form_has_a_csp_and_cannot_be_framed",
        "tests/security/test_page_headers.py::test_liaison_acknowledgement_page_has_a_csp_and_cannot_be_framed",
        "tests/security/test_page_headers.py::test_docs_serve_swagger_ui_from_this_server",
    ],
    "#14.15 a kiosk token from the link is kept in sessionStorage": [
        "tests/browser/test_kiosk_token.py::test_a_token_from_the_link_lasts_the_session_only",
    ],
    "#14.16 --demo never re-issues a token for a real user": [
        "tests/security/test_tokens.py::test_demo_never_reissues_a_token_for_a_real_user",
    ],
    "#14.17 websockets per token capped (4429)": [
        "tests/security/test_tokens.py::test_websockets_per_token_are_capped",
    ],
    "#14.18 exercise-list push subscriptions only for drill staff": [
        "tests/security/test_push_roles.py::test_exercise_push_subscriptions_only_for_drill_staff",
    ],
    # --- the red review of issue 14 (a running server attacked again, /work/reports)
    "#14 review: a unique key taken by a concurrent request is 409, never 500": [
        "tests/security/test_concurrent_duplicates.py::test_a_key_taken_between_check_and_insert_is_409_not_500",
    ],
    "#14 review: a retried create with one Idempotency-Key stores one record (hotline calls, "
    "residents and their checks, crew tasks)": [
        "tests/security/test_idempotent_creates.py::test_a_retried_create_with_one_key_stores_one_record",
        "tests/security/test_idempotent_creates.py::test_a_double_click_creates_one_crew_group_and_liaison_contact",
        "tests/security/test_idempotent_creates.py::test_every_mutating_route_takes_the_key_or_says_why_not",
    ],
    "#13.3 (red review, session 5) a broadcast waiting for a second person still waits after "
    "its drafter changes it (priority, send time, zones, texts): never sent unapproved": [
        "tests/emergency/broadcasts/test_two_person.py::test_changing_a_broadcast_awaiting_a_second_person_never_sends_it",
    ],
    "#13.5 (red review, session 5) a drill user's approval is never the second person of a "
    "real broadcast, nor does a drill user cancel one": [
        "tests/emergency/broadcasts/test_two_person.py::test_a_drill_user_never_approves_or_cancels_a_real_broadcast",
    ],
    "#13.5 (red review, session 5) a drill user changes no real alarm, prompt or facility": [
        "tests/security/test_drill_users.py::test_a_drill_user_changes_no_real_record",
        "tests/security/test_drill_users.py::test_what_a_drill_user_starts_is_an_exercise_without_asking",
        "tests/security/test_drill_users.py::test_a_drill_user_posts_only_exercise_cap_alerts",
    ],
    "#14.3 review: a trusted-sender glob trusts no look-alike (4404@evil.example)": [
        "tests/security/test_cap_sender_globs.py::test_a_sender_that_only_starts_like_zhuhais_code_changes_no_signal",
        "tests/security/test_cap_sender_globs.py::test_shipped_globs_trust_no_look_alike",
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
