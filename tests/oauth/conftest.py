"""A real OpenID Provider (node-oidc-provider, from tests/e2e/node) on a free port, and
the app configured to sign in with it as the provider ``corp``."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from samplemind.app import create_app
from samplemind.core.config import Settings
from samplemind.oauth.providers import pkce_challenge
from tests.conftest import free_port, make_settings, running_client

NODE_DIR = Path(__file__).resolve().parents[1] / "e2e" / "node"
PUBLIC_URL = "http://testserver"
WEB_APP = "http://localhost:3000/signed-in"
ACCOUNTS = {
    "alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice Liddell"},
    "bob": {"email": "bob@example.com", "email_verified": False},
    "carol": {},
}


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("node and tests/e2e/node's packages are needed: run `make node-deps`")
    port, client_id, secret = free_port(), "samplemind-test", secrets.token_urlsafe(24)
    redirect_uri = f"{PUBLIC_URL}/api/v1/auth/oauth/corp/callback"
    process = subprocess.Popen(
        [node, "oidc_provider.mjs", str(port), client_id, secret, redirect_uri],
        cwd=NODE_DIR,
        env={"PATH": str(Path(node).parent), "OIDC_ACCOUNTS": json.dumps(ACCOUNTS)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), f"the provider did not start: {line!r}"
        yield Provider(f"http://127.0.0.1:{port}", client_id, secret)
    finally:
        process.terminate()
        process.wait(timeout=10)


def oauth_settings(database_url: str, tmp_path: Path, provider: Provider) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        public_url=PUBLIC_URL,
        oauth_oidc_issuer=provider.issuer,
        oauth_oidc_client_id=provider.client_id,
        oauth_oidc_client_secret=provider.client_secret,
        oauth_oidc_name="corp",
        oauth_redirect_uris=[WEB_APP],
    )


@pytest.fixture
async def client(
    database_url: str, tmp_path: Path, oidc_provider: Provider
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(oauth_settings(database_url, tmp_path, oidc_provider))
    async with running_client(app) as running:
        yield running


async def through_the_provider(authorize_url: str) -> str:
    """Follow the provider's redirects (with its cookies) until it sends the browser back
    to us; returns that callback URL."""
    url = authorize_url
    async with httpx.AsyncClient() as browser:
        for _ in range(10):
            response = await browser.get(url)
            location = response.headers.get("location")
            assert response.status_code in (302, 303) and location, response.text
            url = urljoin(url, location)
            if url.startswith(PUBLIC_URL):
                return url
    raise AssertionError(f"the provider never sent the browser back: {url}")


@dataclass(frozen=True)
class WebApp:
    """What the web app's page keeps while the browser is away: its PKCE verifier."""

    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return pkce_challenge(self.verifier)


async def start(
    client: httpx.AsyncClient, page: WebApp, *, account: str | None = None
) -> httpx.Response:
    params = {"redirect_to": WEB_APP, "code_challenge": page.challenge}
    if account is not None:
        params["login_hint"] = account
    return await client.get("/api/v1/auth/oauth/corp/start", params=params)


async def sign_in(client: httpx.AsyncClient, account: str, page: WebApp) -> dict[str, str]:
    """The whole browser round trip; returns the fragment given to the web app's page."""
    started = await start(client, page, account=account)
    assert started.status_code == 302, started.text
    back = await through_the_provider(started.headers["location"])
    return await callback(client, back)


async def callback(client: httpx.AsyncClient, url: str) -> dict[str, str]:
    parts = urlsplit(url)
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == WEB_APP, location
    assert not location.query  # codes travel in the fragment only
    return {key: values[0] for key, values in parse_qs(location.fragment).items()}
