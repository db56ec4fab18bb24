"""Sign-in with a name and a password (browser sessions), and setting a password through a
one-time link. API tokens are unchanged: scripts, kiosks and field links keep using them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from emergency import request_limits
from emergency.auth.dependencies import SessionDep
from emergency.auth.models import Role, User
from emergency.auth.router import allowed
from emergency.auth.sessions import service as session_service
from emergency.auth.sessions.models import LoginSession
from emergency.auth.sessions.schemas import LoginIn, PasswordIn, PasswordSet, SessionPublic
from emergency.auth.sessions.service import COOKIE, SESSION_HOURS
from emergency.dependencies import SettingsDep
from emergency.exceptions import NotAuthenticated

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

LOGIN_LIMIT = 10  # wrong or right, per client address per minute


def _public(user: User, login: LoginSession) -> SessionPublic:
    return SessionPublic(
        name=user.name,
        role=user.role,
        can=allowed(Role(user.role)),
        csrf_token=login.csrf_token,
        expires_at=login.expires_at,
    )


@router.post("/login", response_model=SessionPublic)
def login(
    body: LoginIn, request: Request, response: Response, session: SessionDep, settings: SettingsDep
) -> SessionPublic:
    """Name and password → an HttpOnly, SameSite=Strict session cookie and the CSRF token."""
    limiter = request_limits.limiter(request.app, "login", limit=LOGIN_LIMIT, window=60.0)
    allowed_now, retry = limiter.allow(request_limits.client_address(request))
    if not allowed_now:
        raise request_limits.too_many("sign-in attempts", retry)
    user, secret, login_session = session_service.sign_in(
        session, name=body.name, password=body.password
    )
    response.set_cookie(
        COOKIE,
        secret,
        max_age=SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://") or request.url.scheme == "https",
    )
    return _public(user, login_session)


@router.get("/session", response_model=SessionPublic)
def current_session(request: Request, session: SessionDep) -> SessionPublic:
    """The signed-in browser's user and CSRF token (401 without a valid session cookie)."""
    found = session_service.resolve(session, request.cookies.get(COOKIE))
    if found is None:
        raise NotAuthenticated("not signed in", code="no_session")
    return _public(*found)


@router.post("/logout", status_code=204)
def logout(request: Request, session: SessionDep) -> Response:
    """Ends this browser's session (its CSRF token is needed: a link elsewhere cannot)."""
    found = session_service.resolve(session, request.cookies.get(COOKIE))
    if found is not None:
        user, login_session = found
        if not session_service.csrf_ok(
            login_session, request.headers.get(session_service.CSRF_HEADER)
        ):
            from emergency.exceptions import Forbidden

            raise Forbidden("missing or wrong X-CSRF-Token", code="csrf_failed")
        session_service.sign_out(session, login=login_session, actor=user.name)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/password", response_model=PasswordSet)
def set_password(body: PasswordIn, request: Request, session: SessionDep) -> PasswordSet:
    """Set one's password with the one-time link's token (from `typhoon user add`)."""
    limiter = request_limits.limiter(request.app, "login", limit=LOGIN_LIMIT, window=60.0)
    allowed_now, retry = limiter.allow(request_limits.client_address(request))
    if not allowed_now:
        raise request_limits.too_many("attempts", retry)
    user = session_service.set_password_with_link(session, token=body.token, password=body.password)
    return PasswordSet(name=user.name, role=Role(user.role))
