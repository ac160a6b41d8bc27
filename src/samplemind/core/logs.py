"""Log hygiene: secrets that travel in URLs never reach the server's logs.

uvicorn logs every request with its path and query string: a mailed link's token
(``/reset-password?token=…``), a WebSocket's JWT (``/api/v1/ws?token=…``) and an OAuth
callback's ``code`` and ``state`` would be written in clear, for anyone who reads the
logs to replay. The values of those parameters are masked before a record is written.
"""

from __future__ import annotations

import logging
import re

SECRET_QUERY_PARAMETERS = ("token", "access_token", "refresh_token", "code", "state")
REDACTED = "[redacted]"
_SECRET_VALUE = re.compile(
    r"([?&](?:" + "|".join(map(re.escape, SECRET_QUERY_PARAMETERS)) + r")=)[^&\s\"]*"
)
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
"""uvicorn's request log, and the logger its WebSocket handshakes are written to."""


def redact_query_secrets(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``REDACTED``."""
    return _SECRET_VALUE.sub(rf"\g<1>{REDACTED}", text)


class QuerySecretsFilter(logging.Filter):
    """Masks secret query values in a record's message and string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query_secrets(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


_FILTER = QuerySecretsFilter()


def redact_server_logs() -> None:
    """Install the filter on uvicorn's loggers (once; adding it again changes nothing).

    Logger filters survive uvicorn's own logging set-up, which replaces handlers only.
    """
    for name in SERVER_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
