"""Creating users and tokens, and resolving a bearer token to its user.

Tokens are 256 random bits; only their SHA-256 is stored (a slow hash adds nothing for
tokens this long), so a database leak does not leak working tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, column, exists, table
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from alerts.sqltypes import as_utc, table_of
from emergency import rawsql
from emergency.audit import service as audit_service
from emergency.auth.models import ApiToken, Role, User
from emergency.db import new_row, stored_id, utcnow
from emergency.drills import service as drill_service
from emergency.exceptions import Conflict, InvalidInput, NotFound

TOKEN_PREFIX = "tyh_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    name: str,
    role: Role | str,
    actor: str,
    demo: bool = False,
    expires_at: datetime | None = None,
) -> tuple[User, str]:
    """Create a user and its first token; the token is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("name: must be 1 to 80 characters")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"role: '{role}' is not one of {', '.join(r.value for r in Role)}"
        ) from None
    if session.exec(select(User).where(User.name == name)).first():
        raise Conflict(f"user '{name}' already exists", code="user_exists")
    user = User(name=name, role=role, demo=demo)
    session.add(user)
    session.flush()
    token = issue_token(session, user=user, actor=actor, expires_at=expires_at)
    audit_service.record(
        session,
        actor=actor,
        action="user.created",
        target_type="user",
        target_id=stored_id(user),
        after={"name": user.name, "role": user.role},
    )
    return user, token


def issue_token(
    session: Session,
    *,
    user: User,
    actor: str,
    label: str = "",
    expires_at: datetime | None = None,
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=stored_id(user),
            token_hash=hash_token(token),
            label=label,
            expires_at=expires_at,
        )
    )
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="token.issued",
        target_type="user",
        target_id=stored_id(user),
        after={"label": label, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return token


@dataclass(frozen=True)
class Credential:
    """A valid token: whose it is, and which token (the live hub closes a revoked one's
    websockets and counts websockets per token)."""

    user: User
    token_id: int
    expires_at: datetime | None

    @property
    def key(self) -> str:
        return f"token:{self.token_id}"


def authenticate(session: Session, token: str) -> Credential | None:
    """The credential of a token that is not revoked, not expired, of an active user.

    Every request asks this: one statement, built once, that also reads what the field
    report needs of its caller (see below)."""
    if not token or len(token) > 200:
        return None
    found = rawsql.rows(session.connection(), _CREDENTIAL, {"token_hash": hash_token(token)})
    if not found:
        return None
    user_id, name, role, active, created_at, demo, token_id, expires_at, *team, drill = found[0]
    expires_at = as_utc(expires_at)  # read past the column type (rawsql)
    if not active or _expired(expires_at, utcnow()):
        return None
    user = session.identity_map.get(identity_key(User, user_id))
    if user is None:  # a row as the ORM would load it (no model constructor), in the session
        user = new_row(
            User,
            id=user_id,
            name=name,
            role=role,
            active=active,
            created_at=as_utc(created_at),
            demo=demo,
        )
        make_transient_to_detached(user)
        session.add(user)
    # Read with the token, for this unit of work: the team a field token reports for and
    # whether the user is a drill's (the field report needs both; a join on primary keys).
    drill_service.remember(session, user, drill=bool(drill))
    session.info.setdefault(_TEAMS, {})[user_id] = Team(*team)
    return Credential(user=user, token_id=token_id, expires_at=expires_at)


@dataclass(frozen=True)
class Team:
    """The team a field account reports for (`label` None: the user has no field account)."""

    group_id: int | None
    crew_id: int | None
    label: str | None


_TEAMS = "typhoon_caller_teams"  # session.info: user id -> Team, read with the token


def known_team(session: Session, user: User) -> Team | None:
    """The caller's team as read with its token in this unit of work (None: not read)."""
    teams: dict[int, Team] = session.info.get(_TEAMS, {})
    return teams.get(user.id) if user.id is not None else None


_USER = table_of(User).c
_TOKEN = table_of(ApiToken).c
_ACCOUNT = table(
    "field_account", column("user_id"), column("group_id"), column("crew_id"), column("label")
)
_DRILL = table("drill_user", column("user_id"))
_CREDENTIAL = (
    select(  # type: ignore[call-overload]
        # the user's columns in the order `authenticate` reads them (on PostgreSQL through
        # emergency.rawsql: one statement, no ORM loading; issue 18)
        _USER.id,
        _USER.name,
        _USER.role,
        _USER.active,
        _USER.created_at,
        _USER.demo,
        _TOKEN.id.label("token_id"),
        _TOKEN.expires_at,
        _ACCOUNT.c.group_id,
        _ACCOUNT.c.crew_id,
        _ACCOUNT.c.label,
        exists().where(_DRILL.c.user_id == _USER.id).label("drill"),
    )
    .join_from(table_of(ApiToken), table_of(User), _TOKEN.user_id == _USER.id)
    .outerjoin(_ACCOUNT, _ACCOUNT.c.user_id == _USER.id)
    .where(_TOKEN.token_hash == bindparam("token_hash"), _TOKEN.revoked_at.is_(None))
)


def user_for_token(session: Session, token: str) -> User | None:
    credential = authenticate(session, token)
    return credential.user if credential else None


def _expired(expires_at: datetime | None, now: datetime) -> bool:
    if expires_at is None:
        return False
    if expires_at.tzinfo is None:  # SQLite hands back naive UTC
        expires_at = expires_at.replace(tzinfo=now.tzinfo)
    return expires_at <= now


def invalid_tokens(session: Session, token_ids: set[int]) -> set[int]:
    """Of `token_ids`, those no longer valid: revoked, expired, gone, or of a deactivated
    user (what the live hub asks every few seconds about its open websockets)."""
    if not token_ids:
        return set()
    now = utcnow()
    valid: set[int] = set()
    ids = sorted(token_ids)
    for start in range(0, len(ids), 500):
        rows = session.exec(
            select(ApiToken.id, ApiToken.expires_at)
            .join(User, col(ApiToken.user_id) == User.id)
            .where(
                col(ApiToken.id).in_(ids[start : start + 500]),
                col(ApiToken.revoked_at).is_(None),
                col(User.active).is_(True),
            )
        ).all()
        valid.update(i for i, expires in rows if i is not None and not _expired(expires, now))
    return token_ids - valid


def invalid_credentials(session: Session, keys: set[str]) -> set[str]:
    """Of credential keys (`token:<id>`, `session:<id>` of a password sign-in), those no
    longer valid: what the live hub asks every few seconds about its open websockets."""
    from emergency.auth.sessions.models import LoginSession

    tokens = {int(k.split(":", 1)[1]) for k in keys if k.startswith("token:")}
    invalid = {f"token:{t}" for t in invalid_tokens(session, tokens)}
    logins = sorted(int(k.split(":", 1)[1]) for k in keys if k.startswith("session:"))
    now = utcnow()
    for start in range(0, len(logins), 500):
        chunk = logins[start : start + 500]
        rows = session.exec(
            select(LoginSession.id, LoginSession.expires_at)
            .join(User, col(LoginSession.user_id) == User.id)
            .where(
                col(LoginSession.id).in_(chunk),
                col(LoginSession.ended_at).is_(None),
                col(User.active).is_(True),
            )
        ).all()
        live = {login_id for login_id, expires in rows if not _expired(expires, now)}
        invalid.update(f"session:{login_id}" for login_id in chunk if login_id not in live)
    return invalid


def revoke_tokens(session: Session, *, name: str, actor: str) -> int:
    """Revoke every token of user `name` and end its browser sessions (its open websockets
    close within seconds); the number of tokens revoked. Revoking again revokes nothing and
    is not an error."""
    user = _user_named(session, name)
    now = utcnow()
    tokens = list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
            .with_for_update()
        )
    )
    for api_token in tokens:
        api_token.revoked_at = now
        session.add(api_token)
    logins = _end_logins(session, user_id=stored_id(user), now=now)
    session.flush()
    if tokens or logins:
        audit_service.record(
            session,
            actor=actor,
            action="token.revoked",
            target_type="user",
            target_id=stored_id(user),
            after={"tokens": len(tokens), "sessions": logins},
        )
    return len(tokens)


def _end_logins(session: Session, *, user_id: int, now: datetime) -> int:
    """End the user's browser sessions (password sign-ins) too: revoked means signed out."""
    from emergency.auth.sessions.models import LoginSession

    logins = list(
        session.exec(
            select(LoginSession).where(
                LoginSession.user_id == user_id, col(LoginSession.ended_at).is_(None)
            )
        )
    )
    for login in logins:
        login.ended_at = now
        session.add(login)
    return len(logins)


def rotate_token(session: Session, *, name: str, actor: str) -> tuple[int, str]:
    """Revoke every token of user `name` and issue a new one: (tokens revoked, the new
    token, returned once)."""
    revoked = revoke_tokens(session, name=name, actor=actor)
    token = issue_token(session, user=_user_named(session, name), actor=actor, label="rotated")
    return revoked, token


def _user_named(session: Session, name: str) -> User:
    user = get_by_name(session, name)
    if user is None:
        raise NotFound(f"no user named '{name}'", code="user_not_found")
    return user


_DURATION = re.compile(r"^\s*(\d{1,5})\s*([mhd])\s*$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
MAX_EXPIRY = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """'90m', '24h', '7d' → a timedelta of 1 minute to a year (the life of a token)."""
    match = _DURATION.match(text or "")
    if not match:
        raise InvalidInput(f"expires: {text!r} is not a duration such as 90m, 24h or 7d")
    value = int(match.group(1)) * _UNIT[match.group(2)]
    if not timedelta(minutes=1) <= value <= MAX_EXPIRY:
        raise InvalidInput("expires: between 1 minute and 366 days")
    return value


def get_by_name(session: Session, name: str) -> User | None:
    return session.exec(select(User).where(User.name == name)).first()
