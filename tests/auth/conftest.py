from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.auth.mail_app import MailApp, mail_app


@pytest.fixture
async def mail(database_url: str, tmp_path: Path) -> AsyncIterator[MailApp]:
    async with mail_app(database_url, tmp_path) as running:
        yield running
