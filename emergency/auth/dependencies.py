"""FastAPI dependencies: the request's database session, the caller, and role checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from emergency.auth import service as auth_service
from emergency.auth.models import Role, User
from emergency.exceptions import Forbidden, NotAuthenticated


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit when the handler returns, else roll back."""
    session = request.app.state.db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": commit before the response is sent, so a 2xx means it is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="API token from `typhoon user add`")


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token (Authorization: Bearer …)")
    user = auth_service.user_for_token(session, credentials.credentials)
    if user is None:
        raise NotAuthenticated("invalid or revoked token", code="invalid_token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role):
    """A dependency that lets through admins and the given roles, and refuses the rest."""

    async def check(user: CurrentUser) -> User:  # async: no thread hand-over for a comparison
        if user.role != Role.admin and user.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role '{user.role}' may not do this (needs {allowed})")
        return user

    check.required_roles = roles  # read by emergency.openapi and the security tests
    return check


Operator = Annotated[User, Depends(require(Role.operator))]
Approver = Annotated[User, Depends(require(Role.approver))]
Liaison = Annotated[User, Depends(require(Role.liaison, Role.operator))]
FieldReporter = Annotated[User, Depends(require(Role.field, Role.operator))]
Admin = Annotated[User, Depends(require())]
Reader = CurrentUser  # any valid token may read
