"""The checks of the Google Public Alerts CAP profile that can be made offline, for the alerts
we publish (the OASIS schema and CAP's own rules are checked by `parse_cap`).

    problems = profile_problems(parse_cap(xml))     # [] when the alert passes

What Google's public-alert guidelines ask of a CAP 1.2 alert beyond the standard, as far as
a document alone can show it (not: that its URLs answer, that it is signed, that the feed
around it is right):
- <scope> Public;
- Update and Cancel reference earlier alerts, never themselves, none sent after this one;
- every <info> has a language, distinct per info when there are several; an <event>; not all
  of urgency, severity and certainty Unknown; a <responseType>; a <headline> of at most 180
  characters that is not the <description>; a non-empty <description>; an <instruction>, if
  any, that is not the description; an <expires>, if any, after the effective time (else
  <sent>); a <web>, if any, that is an absolute http(s) address; a <senderName>;
- every <area> has an <areaDesc> and a polygon, circle or geocode; an alert that is not a
  Cancel has at least one <info> with an <area>.
"""

from __future__ import annotations

from emergency.cap.alert import CapAlert

MAX_HEADLINE = 180


def profile_problems(alert: CapAlert) -> list[str]:
    problems: list[str] = []
    if alert.scope != "Public":
        problems.append(f"/alert/scope: {alert.scope!r}, public alerts are Public")
    if alert.msg_type in ("Update", "Cancel"):
        if not alert.references:
            problems.append(f"/alert/references: a {alert.msg_type} names what it replaces")
        for ref in alert.references:
            if ref.key == (alert.sender, alert.identifier):
                problems.append("/alert/references: an alert does not reference itself")
            elif ref.sent > alert.sent:
                problems.append(f"/alert/references: {ref} was sent after this alert")
    languages = [info.language.casefold() for info in alert.infos]
    if len(set(languages)) != len(languages):
        problems.append("/alert/info: several infos in the same language")
    if alert.msg_type != "Cancel" and not any(info.areas for info in alert.infos):
        problems.append("/alert/info/area: no area")
    for n, info in enumerate(alert.infos, 1):
        path = f"/alert/info[{n}]"
        if not info.event.strip():
            problems.append(f"{path}/event: empty")
        if (info.urgency, info.severity, info.certainty) == ("Unknown",) * 3:
            problems.append(f"{path}: urgency, severity and certainty all Unknown")
        if not info.response_types:
            problems.append(f"{path}/responseType: missing")
        if not info.headline:
            problems.append(f"{path}/headline: missing")
        elif len(info.headline) > MAX_HEADLINE:
            problems.append(
                f"{path}/headline: {len(info.headline)} characters, over {MAX_HEADLINE}"
            )
        if not (info.description or "").strip():
            problems.append(f"{path}/description: missing")
        elif info.headline and info.headline.strip() == (info.description or "").strip():
            problems.append(f"{path}/headline: the same as the description")
        if info.instruction and info.instruction.strip() == (info.description or "").strip():
            problems.append(f"{path}/instruction: the same as the description")
        start = info.effective or alert.sent
        if info.expires is not None and info.expires <= start:
            problems.append(
                f"{path}/expires: not after {'effective' if info.effective else 'sent'}"
            )
        if info.web is not None and not info.web.startswith(("http://", "https://")):
            problems.append(f"{path}/web: {info.web!r} is not an absolute http(s) address")
        if not info.sender_name:
            problems.append(f"{path}/senderName: missing")
        for m, area in enumerate(info.areas, 1):
            if not area.area_desc.strip():
                problems.append(f"{path}/area[{m}]/areaDesc: empty")
            if not (area.polygons or area.circles or area.geocodes):
                problems.append(f"{path}/area[{m}]: no polygon, circle or geocode")
    return problems
