"""FastAPI dependencies: the request's database session, the caller, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from emergency.auth import service as auth_service
from emergency.auth.models import Role, User
from emergency.auth.sessions import service as session_service
from emergency.exceptions import Forbidden, NotAuthenticated


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: commit when the handler returns, else roll back.

    A session connects on first use, so it is made here on the event loop; what does I/O (the
    commit, the rollback, closing a session still in a transaction) runs in the thread pool,
    and not at all when the handler committed already (the hot field report path does)."""
    session = request.app.state.db.session()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        raise
    finally:
        if session.in_transaction():  # pragma: no cover - a rollback that failed
            await run_in_threadpool(session.close)
        else:
            session.close()


# scope="function": commit before the response is sent, so a 2xx means it is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

bearer = HTTPBearer(auto_error=False, description="API token from `typhoon user add`")


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None and request.cookies.get(session_service.COOKIE):
        return _cookie_user(request, session)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token (Authorization: Bearer …)")
    user = auth_service.user_for_token(session, credentials.credentials)
    if user is None:
        raise NotAuthenticated("invalid or revoked token", code="invalid_token")
    return user


def _cookie_user(request: Request, session: Session) -> User:
    """A browser signed in with a password: its session cookie, and for a change its CSRF
    token in X-CSRF-Token (the cookie alone never acts)."""
    found = session_service.resolve(session, request.cookies.get(session_service.COOKIE))
    if found is None:
        raise NotAuthenticated("the session has ended: sign in again", code="session_expired")
    user, login = found
    if request.method not in _SAFE_METHODS and not session_service.csrf_ok(
        login, request.headers.get(session_service.CSRF_HEADER)
    ):
        raise Forbidden("missing or wrong X-CSRF-Token", code="csrf_failed")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


AfterRoleCheck = Callable[[Request, User], Awaitable[None]]


class RoleCheck:
    """A dependency that lets through admins and the given roles, and refuses the rest; then
    awaits `then` (e.g. a rate limit: a refused caller uses nobody's allowance). `then` in
    here, not a dependency of its own on top: each dependency node costs FastAPI's solving on
    every request (issue 18)."""

    def __init__(self, roles: tuple[Role, ...], then: AfterRoleCheck | None = None) -> None:
        self.required_roles = roles  # read by emergency.openapi and the security tests
        self.then = then

    async def __call__(self, request: Request, user: CurrentUser) -> User:  # async: no thread
        self.admit(user)
        if self.then is not None:
            await self.then(request, user)
        return user

    def admit(self, user: User) -> None:
        """Refuse (403) a caller whose role is not one of these (admins always pass)."""
        if user.role != Role.admin and user.role not in self.required_roles:
            allowed = ", ".join(r.value for r in self.required_roles)
            raise Forbidden(f"role '{user.role}' may not do this (needs {allowed})")


def require(*roles: Role, then: AfterRoleCheck | None = None) -> RoleCheck:
    return RoleCheck(roles, then)


Operator = Annotated[User, Depends(require(Role.operator))]
Approver = Annotated[User, Depends(require(Role.approver))]
Liaison = Annotated[User, Depends(require(Role.liaison, Role.operator))]
FIELD_REPORTERS = (Role.field, Role.operator)  # and admins, as everywhere
FieldReporter = Annotated[User, Depends(require(*FIELD_REPORTERS))]
Admin = Annotated[User, Depends(require())]
Reader = CurrentUser  # any valid token may read
