"""Request and response bodies of the sign-in-with-a-provider endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProviderRead(BaseModel):
    name: str
    start_url: str = Field(
        description="Send the browser here with ?redirect_to=<your page>&code_challenge=<S256>"
    )


class LoginCodeExchange(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="The #code= given to redirect_to")
    code_verifier: str = Field(
        min_length=43,
        max_length=128,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="The verifier whose S256 challenge started the sign-in (RFC 7636)",
    )
    otp_code: str | None = Field(
        default=None,
        max_length=32,
        description="With two-factor sign-in on: the app's current code or a recovery code",
    )
