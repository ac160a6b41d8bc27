"""The pages the mailed links open: choose a new password, confirm an email address.

The mails link to ``PUBLIC_URL/reset-password?token=…`` and ``/verify-email?token=…``.
When ``PUBLIC_URL`` is this server (the default), these plain HTML forms serve them,
so the links work without a web app and without JavaScript. Opening a link only shows
a form: the token is used by the form's POST, so a mail scanner that follows links
cannot spend it. The POSTs run the same service calls as the JSON endpoints
(``/api/v1/auth/password-reset/confirm``, ``/api/v1/auth/verify-email/confirm``).

Every page is sent with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``
(the token is in the address), and a content security policy that allows no script,
no frame and forms posting only to this origin.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Annotated, TypeGuard

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse

from samplemind.auth.dependencies import AuthServiceDep, DbSession, limit_client_in
from samplemind.core.errors import AppError

router = APIRouter(include_in_schema=False)

_TOKEN_MAX = 256
_PASSWORD_MAX = 256
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}"
    "label,input,button{display:block;width:100%;box-sizing:border-box;margin:.4rem 0}"
    "input,button{padding:.5rem;font-size:1rem}.error{color:#b00020}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_RESET_DONE = "Your password has been changed. Sign in with the new one."
_VERIFIED = "Your email address is confirmed."
_INCOMPLETE_LINK = "This link is incomplete. Open the link from the mail again."
_RESET_TITLE = "Reset your password"
_VERIFY_TITLE = "Confirm your email address"


def _page(
    title: str,
    body: str,
    *,
    status_code: int = status.HTTP_200_OK,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · SampleMind</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers={**_HEADERS, **(headers or {})})


def _message(text: str, *, error: bool = False) -> str:
    attributes = ' class="error" role="alert"' if error else ' role="status"'
    return f"<p{attributes}>{escape(text)}</p>"


def _incomplete(title: str) -> HTMLResponse:
    return _page(title, _message(_INCOMPLETE_LINK, error=True), status_code=400)


def _failed(title: str, error: AppError) -> HTMLResponse:
    """The error the JSON endpoint would give, as a page with its status and headers
    (``Retry-After`` when rate limited)."""
    body = _message(error.message, error=True)
    return _page(title, body, status_code=error.status_code, headers=error.headers)


async def _limit_as(request: Request, endpoint: str) -> None:
    """Count the request in the budget of the JSON endpoint (by its function's name) that
    does the same thing, so a client gets one budget for guessing tokens, not one per
    route."""
    await limit_client_in(request, scope=str(request.app.url_path_for(endpoint)))


def _usable(token: str | None) -> TypeGuard[str]:
    return token is not None and 0 < len(token) <= _TOKEN_MAX and token.isprintable()


def _reset_form(token: str, problem: str | None = None) -> str:
    return (
        (_message(problem, error=True) if problem else "")
        + '<form method="post" action="reset-password">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        '<label for="new_password">New password</label>'
        '<input id="new_password" name="new_password" type="password" required '
        f'maxlength="{_PASSWORD_MAX}" autocomplete="new-password">'
        '<label for="new_password_again">The same again</label>'
        '<input id="new_password_again" name="new_password_again" type="password" required '
        f'maxlength="{_PASSWORD_MAX}" autocomplete="new-password">'
        "<button type=submit>Change password</button></form>"
    )


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_password_page(token: Annotated[str | None, Query()] = None) -> HTMLResponse:
    if not _usable(token):
        return _incomplete(_RESET_TITLE)
    return _page(_RESET_TITLE, _reset_form(token))


@router.post("/reset-password", response_class=HTMLResponse)
async def reset_password_submit(
    request: Request,
    db: DbSession,
    service: AuthServiceDep,
    token: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
) -> HTMLResponse:
    if not _usable(token):
        return _incomplete(_RESET_TITLE)
    problem = _password_mismatch(new_password, new_password_again)
    if problem:
        return _page(_RESET_TITLE, _reset_form(token, problem), status_code=422)
    try:
        await _limit_as(request, "confirm_password_reset")
        await service.confirm_password_reset(db, token=token, new_password=new_password)
    except AppError as error:
        if error.code == "weak_password":  # the link still works: ask again
            return _page(_RESET_TITLE, _reset_form(token, error.message), status_code=422)
        return _failed(_RESET_TITLE, error)
    return _page("Password changed", _message(_RESET_DONE))


def _password_mismatch(password: str, again: str) -> str | None:
    if not password:
        return "Enter a password."
    if len(password) > _PASSWORD_MAX:
        return f"Use at most {_PASSWORD_MAX} characters."
    if password != again:
        return "The two passwords are not the same."
    return None


@router.get("/verify-email", response_class=HTMLResponse)
async def verify_email_page(token: Annotated[str | None, Query()] = None) -> HTMLResponse:
    if not _usable(token):
        return _incomplete(_VERIFY_TITLE)
    form = (
        '<form method="post" action="verify-email">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        "<button type=submit>Confirm my email address</button></form>"
    )
    return _page(_VERIFY_TITLE, form)


@router.post("/verify-email", response_class=HTMLResponse)
async def verify_email_submit(
    request: Request,
    db: DbSession,
    service: AuthServiceDep,
    token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    if not _usable(token):
        return _incomplete(_VERIFY_TITLE)
    try:
        await _limit_as(request, "confirm_email_verification")
        await service.confirm_email_verification(db, token)
    except AppError as error:
        return _failed(_VERIFY_TITLE, error)
    return _page("Email address confirmed", _message(_VERIFIED))
