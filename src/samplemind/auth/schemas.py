"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class RegisterRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    full_name: str | None = Field(default=None, max_length=200)


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    otp_code: str | None = Field(
        default=None,
        max_length=32,
        description="With two-factor sign-in on: the app's current code or a recovery code",
    )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=4096)


class PasswordResetRequest(BaseModel):
    email: EmailStr


class PasswordResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class EmailVerificationConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=256)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    is_active: bool
    is_verified: bool = Field(description="The email address was confirmed from a mailed link")
    two_factor_enabled: bool = Field(description="Login asks for an authenticator app's code")
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Access token lifetime in seconds")


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    user_agent: str | None
    ip_address: str | None
    current: bool = False


class Message(BaseModel):
    message: str


class TwoFactorSetupRequest(BaseModel):
    password: str = Field(min_length=1, max_length=256)


class TwoFactorSetup(BaseModel):
    secret: str = Field(description="Base32 secret to type into an authenticator app")
    otpauth_uri: str = Field(description="The same as an otpauth:// URI, for a QR code")


class TwoFactorCode(BaseModel):
    code: str = Field(
        min_length=1, max_length=32, description="The app's current code or a recovery code"
    )


class TwoFactorDisableRequest(TwoFactorCode):
    password: str = Field(min_length=1, max_length=256)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="Single-use codes for when the app is lost; shown only this once"
    )


class TwoFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
