"""Sign-in with a name and a password, beside the API tokens (which stay for scripts, kiosks
and field links).

- Passwords are hashed with argon2 (pwdlib's recommended settings); a person sets their own
  through a one-time link (`typhoon user add` prints it), never typed by an administrator.
- A signed-in browser holds a session cookie: random, HttpOnly, SameSite=Strict, Secure over
  HTTPS; only its SHA-256 is stored. Each session has a CSRF token that the page sends back
  in `X-CSRF-Token` on every request that changes something (checked in
  emergency.auth.dependencies), so a cookie alone never acts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from pwdlib import PasswordHash
from sqlmodel import Session, col, select

from emergency.audit import service as audit_service
from emergency.auth.models import User
from emergency.auth.sessions.models import LoginSession, PasswordLink, UserPassword
from emergency.db import stored_id, utcnow
from emergency.exceptions import InvalidInput, NotAuthenticated

COOKIE = "typhoon_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_HOURS = 12  # a duty shift; signing in again after it is cheap
LINK_HOURS = 72
MIN_PASSWORD = 10
_hasher = PasswordHash.recommended()
# Verified against when the name is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the one-time link -----------------------------------------------------------------------


def issue_link(session: Session, *, user: User, actor: str, public_url: str) -> str:
    """A link that lets `user` set a password once, within LINK_HOURS. Earlier unused links of
    the user stop working (the newest one counts)."""
    now = utcnow()
    for old in session.exec(
        select(PasswordLink).where(
            PasswordLink.user_id == user.id, col(PasswordLink.used_at).is_(None)
        )
    ):
        old.used_at = now
        session.add(old)
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordLink(
            user_id=stored_id(user),
            token_hash=_digest(token),
            expires_at=now + timedelta(hours=LINK_HOURS),
        )
    )
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="password.link_issued",
        target_type="user",
        target_id=stored_id(user),
    )
    # In the fragment: a browser never sends it to a server (nor to its logs).
    return f"{public_url.rstrip('/')}/set-password#token={token}"


def set_password_with_link(session: Session, *, token: str, password: str) -> User:
    link = session.exec(
        select(PasswordLink)
        .where(PasswordLink.token_hash == _digest(token or ""))
        .with_for_update()
    ).first()
    now = utcnow()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotAuthenticated(
            "this link is used or expired: ask the command post for a new one",
            code="link_invalid",
        )
    user = session.get(User, link.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("this user is disabled", code="link_invalid")
    check_strength(password, user.name)
    link.used_at = now
    session.add(link)
    # A new password ends the sessions signed in with the old one.
    for open_session in session.exec(
        select(LoginSession).where(
            LoginSession.user_id == user.id, col(LoginSession.ended_at).is_(None)
        )
    ):
        open_session.ended_at = now
        session.add(open_session)
    _store_password(session, user=user, password=password, actor=user.name, now=now)
    return user


def check_strength(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", code="weak_password")
    if len(password) > 256:
        raise InvalidInput("password: at most 256 characters", code="weak_password")
    if password.strip().lower() == name.strip().lower():
        raise InvalidInput("password: not the user's name", code="weak_password")


def set_password(session: Session, *, user: User, password: str, actor: str) -> None:
    """Set a password directly (demo users, tests)."""
    _store_password(session, user=user, password=password, actor=actor, now=utcnow())


def _store_password(
    session: Session, *, user: User, password: str, actor: str, now: datetime
) -> None:
    """The user's password (its hash only) replaced, audited."""
    stored = session.get(UserPassword, stored_id(user)) or UserPassword(
        user_id=stored_id(user), password_hash=""
    )
    stored.password_hash, stored.set_at = _hasher.hash(password), now
    session.add(stored)
    session.flush()
    audit_service.record(
        session, actor=actor, action="password.set", target_type="user", target_id=stored_id(user)
    )


# --- sessions ----------------------------------------------------------------------------------


def sign_in(session: Session, *, name: str, password: str) -> tuple[User, str, LoginSession]:
    """(user, cookie value, session) for a right name and password; one answer for every
    wrong one (unknown name, wrong password, no password set, disabled user)."""
    user = session.exec(select(User).where(User.name == (name or "").strip())).first()
    stored = session.get(UserPassword, user.id) if user is not None else None
    valid = _hasher.verify(password or "", stored.password_hash if stored else _DUMMY_HASH)
    if not (valid and stored and user and user.active):
        audit_service.record(
            session,
            actor=(name or "?")[:80],
            action="session.refused",
            target_type="user",
            target_id=stored_id(user) if user else "None",  # no such user
        )
        raise NotAuthenticated("wrong name or password", code="invalid_credentials")
    secret = secrets.token_urlsafe(32)
    login = LoginSession(
        user_id=stored_id(user),
        token_hash=_digest(secret),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(hours=SESSION_HOURS),
    )
    session.add(login)
    session.flush()
    audit_service.record(
        session,
        actor=user.name,
        action="session.started",
        target_type="user",
        target_id=stored_id(user),
    )
    return user, secret, login


def resolve(session: Session, cookie: str | None) -> tuple[User, LoginSession] | None:
    if not cookie or len(cookie) > 200:
        return None
    login = session.exec(
        select(LoginSession).where(LoginSession.token_hash == _digest(cookie))
    ).first()
    if login is None or login.ended_at is not None or login.expires_at <= utcnow():
        return None
    user = session.get(User, login.user_id)
    if user is None or not user.active:
        return None
    return user, login


def user_for_websocket(
    session: Session, *, cookie: str | None, headers: Mapping[str, str]
) -> User | None:
    """The user of a websocket opened with a session cookie. Browsers send cookies on a
    cross-site websocket too (SameSite does not cover it), so the page must be ours: its
    Origin's host is the Host asked for."""
    found = login_for_websocket(session, cookie=cookie, headers=headers)
    return found[0] if found else None


def login_for_websocket(
    session: Session, *, cookie: str | None, headers: Mapping[str, str]
) -> tuple[User, LoginSession] | None:
    """As user_for_websocket, with the session itself (the live hub closes a websocket
    whose session ends, and counts websockets per session)."""
    origin, host = headers.get("origin") or "", headers.get("host") or ""
    if not host or urlsplit(origin).netloc != host:
        return None
    return resolve(session, cookie)


def csrf_ok(login: LoginSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(login.csrf_token, sent or "")


def sign_out(session: Session, *, login: LoginSession, actor: str) -> None:
    login.ended_at = utcnow()
    session.add(login)
    session.flush()
    audit_service.record(
        session, actor=actor, action="session.ended", target_type="user", target_id=login.user_id
    )
