"""The pages the mailed links open, used as a browser without JavaScript uses them: the
link from a mail caught by a real SMTP server is opened, and its form is posted."""

from __future__ import annotations

import base64
import hashlib
import re
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from tests.auth.helpers import PASSWORD, login, me
from tests.auth.mail_app import PUBLIC_URL, MailApp, mail_app
from tests.auth.smtp import body
from tests.auth.test_email_verification import EMAIL, register_and_get_token
from tests.auth.test_password_reset import NEW_PASSWORD, request_reset

HIDDEN_TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]*)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)">')
STYLE = re.compile(r"<style>(.*?)</style>", re.S)


async def mailed_link(mail: MailApp, subject_word: str) -> str:
    """The path and query of the newest mailed link whose subject has ``subject_word``."""
    await mail.settle()
    [message, *_] = [m for m in reversed(mail.inbox.messages) if subject_word in m["Subject"]]
    link = re.search(rf"{re.escape(PUBLIC_URL)}\S+", body(message))
    assert link, body(message)
    parts = urlsplit(link.group(0))
    return f"{parts.path}?{parts.query}"


async def open_form(client: httpx.AsyncClient, link: str) -> str:
    """Open the link like a browser; the token the page's form will post."""
    page = await client.get(link)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert "script-src" not in policy  # none allowed
    style = STYLE.search(page.text)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy  # the page's own style may apply
    action = FORM_ACTION.search(page.text)
    assert action
    assert urljoin(link, action.group(1)) == urlsplit(link).path  # posts where it was opened
    found = HIDDEN_TOKEN.search(page.text)
    assert found, page.text
    return unescape(found.group(1))


async def post_reset(
    client: httpx.AsyncClient, token: str, password: str, again: str | None = None
) -> httpx.Response:
    form = {"token": token, "new_password": password, "new_password_again": again or password}
    return await client.post("/reset-password", data=form)


async def can_log_in(client: httpx.AsyncClient, password: str) -> bool:
    response = await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": password})
    return response.status_code == 200


async def test_the_reset_link_opens_a_form_that_sets_the_new_password(mail: MailApp) -> None:
    await register_and_get_token(mail)
    assert (await request_reset(mail.client, EMAIL)).status_code == 202
    link = await mailed_link(mail, "password")
    assert link.startswith("/reset-password?token=")
    token = await open_form(mail.client, link)
    assert await can_log_in(mail.client, PASSWORD)  # opening the link changed nothing

    mismatch = await post_reset(mail.client, token, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert mismatch.status_code == 422
    assert "not the same" in mismatch.text
    weak = await post_reset(mail.client, token, "short")
    assert weak.status_code == 422
    assert HIDDEN_TOKEN.search(weak.text)  # asked again, the link still works

    done = await post_reset(mail.client, token, NEW_PASSWORD)
    assert done.status_code == 200, done.text
    assert "Sign in with the new one" in done.text
    assert await can_log_in(mail.client, NEW_PASSWORD)
    assert not await can_log_in(mail.client, PASSWORD)

    again = await post_reset(mail.client, token, "Another fine Passphrase 7")
    assert again.status_code == 400
    assert await can_log_in(mail.client, NEW_PASSWORD)


async def test_the_verification_link_confirms_only_when_its_form_is_posted(
    mail: MailApp,
) -> None:
    await register_and_get_token(mail)
    tokens = await login(mail.client, EMAIL)
    link = await mailed_link(mail, "Confirm")
    assert link.startswith("/verify-email?token=")
    token = await open_form(mail.client, link)
    assert (await me(mail.client, tokens["access_token"])).json()["is_verified"] is False

    done = await mail.client.post("/verify-email", data={"token": token})
    assert done.status_code == 200, done.text
    assert "confirmed" in done.text
    assert (await me(mail.client, tokens["access_token"])).json()["is_verified"] is True
    again = await mail.client.post("/verify-email", data={"token": token})
    assert again.status_code == 400


async def test_broken_links_and_odd_tokens_get_a_page_not_an_error(mail: MailApp) -> None:
    for path in ("/reset-password", "/verify-email"):
        for query in ("", "?token=", f"?token={'x' * 300}"):
            page = await mail.client.get(path + query)
            assert page.status_code == 400, (path, query)
            assert "incomplete" in page.text
        posted = await mail.client.post(path, data={})
        assert posted.status_code == 400
        assert posted.headers["content-type"].startswith("text/html")
        unknown = await mail.client.post(
            path, data={"token": "x" * 43, "new_password": NEW_PASSWORD,
                        "new_password_again": NEW_PASSWORD},
        )  # fmt: skip
        assert unknown.status_code == 400
        assert unknown.headers["content-type"].startswith("text/html")
    hostile = '"><script>alert(1)</script>'
    page = await mail.client.get("/reset-password", params={"token": hostile})
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert unescape(HIDDEN_TOKEN.search(page.text).group(1)) == hostile  # type: ignore[union-attr]


async def test_the_pages_share_the_json_endpoints_rate_limit(
    database_url: str, tmp_path: Path
) -> None:
    async with mail_app(database_url, tmp_path, auth_rate_limit_per_minute=3) as limited:
        wrong = {
            "token": "x" * 43,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        }
        pages = [await limited.client.post("/reset-password", data=wrong) for _ in range(2)]
        api = await limited.client.post(
            "/api/v1/auth/password-reset/confirm",
            json={"token": "x" * 43, "new_password": NEW_PASSWORD},
        )
        assert [r.status_code for r in (*pages, api)] == [400, 400, 400]
        limited_page = await limited.client.post("/reset-password", data=wrong)
        assert limited_page.status_code == 429
        assert limited_page.headers["content-type"].startswith("text/html")
        assert int(limited_page.headers["retry-after"]) > 0
