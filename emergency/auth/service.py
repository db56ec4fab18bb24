"""Creating users and tokens, and resolving a bearer token to its user.

Tokens are 256 random bits; only their SHA-256 is stored (a slow hash adds nothing for
tokens this long), so a database leak does not leak working tokens.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from emergency.audit import service as audit_service
from emergency.auth.models import ApiToken, Role, User
from emergency.exceptions import Conflict, InvalidInput

TOKEN_PREFIX = "tyh_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, name: str, role: Role | str, actor: str) -> tuple[User, str]:
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
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    token = issue_token(session, user=user, actor=actor)
    audit_service.record(
        session,
        actor=actor,
        action="user.created",
        target_type="user",
        target_id=user.id,
        after={"name": user.name, "role": user.role},
    )
    return user, token


def issue_token(session: Session, *, user: User, actor: str, label: str = "") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label))
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="token.issued",
        target_type="user",
        target_id=user.id,
        after={"label": label},
    )
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = session.exec(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.active:
        return None
    return row


def get_by_name(session: Session, name: str) -> User | None:
    return session.exec(select(User).where(User.name == name)).first()
