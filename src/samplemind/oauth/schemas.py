"""Request and response bodies of the sign-in-with-a-provider endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProviderRead(BaseModel):
    name: str
    start_url: str = Field(description="Send the browser here, adding ?redirect_to=<your page>")


class LoginCodeExchange(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="The code= given to redirect_to")
    otp_code: str | None = Field(
        default=None,
        max_length=32,
        description="With two-factor sign-in on: the app's current code or a recovery code",
    )
