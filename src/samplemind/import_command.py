"""``samplemind import``: upload files and folders to a SampleMind server.

The folder layout is kept: importing ``~/Samples/Drums`` files ``Drums/Kicks/BD 01.wav``
under the library folder ``Drums/Kicks``. Files go up in batches; a batch the server
refuses whole (one file over its size limit) is retried a file at a time, so one bad
file never costs the others.

A name that is not valid UTF-8 goes up with U+FFFD for its undecodable bytes; a named
pipe or device named on the command line is refused (a folder walk skips them).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import httpx

from samplemind.core.printable import escape_unencodable, printable, with_replacement_characters

AUDIO_SUFFIXES = frozenset(
    {".wav", ".wave", ".bwf", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus", ".mp3"}
)
BATCH_FILES = 50
BATCH_BYTES = 256 * 1024 * 1024
REQUEST_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class ImportFile:
    """A local file and the name it is uploaded under (its path from the imported folder)."""

    path: Path
    upload_name: str
    size: int


@dataclass
class ImportSummary:
    uploaded: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # name, code, message
    job_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "uploaded": self.uploaded,
            "duplicates": self.duplicates,
            "rejected": [
                {"file": name, "code": code, "message": message}
                for name, code, message in self.rejected
            ],
        }


class ImportFailed(Exception):
    """The server cannot be used at all (unreachable, bad credentials)."""


def collect_files(paths: Iterable[Path], *, all_files: bool = False) -> list[ImportFile]:
    """The files to upload, in a stable order.

    A file is uploaded under its own name; a folder's files under ``<folder name>/<path
    inside it>``. Hidden files and folders (``.DS_Store``, ``.git``) are skipped, and
    so are names without an audio suffix unless ``all_files`` (the server decides by
    content either way).
    """
    found: list[ImportFile] = []
    for path in paths:
        if path.is_dir():
            found += _folder_files(path.resolve(), all_files=all_files)
        elif path.is_file():
            found.append(
                ImportFile(path, with_replacement_characters(path.name), path.stat().st_size)
            )
    return found


def refuse_special_files(paths: Iterable[Path]) -> list[tuple[str, str, str]]:
    """``(name, code, message)`` for each path that is a named pipe or a device: reading
    one may wait for a writer, or never end."""
    return [
        (printable(path.name), "unsupported_format", "not a regular file")
        for path in paths
        if not (stat.S_ISREG(mode := path.stat().st_mode) or stat.S_ISDIR(mode))
    ]


def _folder_files(root: Path, *, all_files: bool) -> list[ImportFile]:
    files = []
    for file in sorted(root.rglob("*")):
        relative = file.relative_to(root)
        if file.is_file() and not _hidden(relative) and _wanted(file, all_files):
            name = f"{root.name}/{relative.as_posix()}" if root.name else relative.as_posix()
            files.append(ImportFile(file, with_replacement_characters(name), file.stat().st_size))
    return files


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _wanted(path: Path, all_files: bool) -> bool:
    return all_files or path.suffix.lower() in AUDIO_SUFFIXES


def plan_batches(
    files: Sequence[ImportFile], *, max_files: int = BATCH_FILES, max_bytes: int = BATCH_BYTES
) -> list[list[ImportFile]]:
    """Consecutive runs of at most ``max_files`` files and ``max_bytes`` (a larger
    file travels alone)."""
    if max_files < 1 or max_bytes < 1:
        raise ValueError("max_files and max_bytes must be >= 1")
    batches: list[list[ImportFile]] = []
    current: list[ImportFile] = []
    size = 0
    for file in files:
        if current and (len(current) >= max_files or size + file.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(file)
        size += file.size
    if current:
        batches.append(current)
    return batches


async def login(client: httpx.AsyncClient, *, email: str, password: str) -> str:
    """An access token for the account (the seed's JSON login)."""
    response = await _request(
        client, "POST", "/api/v1/auth/login", json={"email": email, "password": password}
    )
    if response.status_code != 200:
        raise ImportFailed(f"login failed: {_error_message(response)}")
    return str(response.json()["access_token"])


async def import_files(
    client: httpx.AsyncClient,
    files: Sequence[ImportFile],
    *,
    token: str,
    folder: str = "",
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Upload ``files`` in batches; refused files are listed, not fatal.

    ``on_progress`` is called with the number of files each finished batch held.
    """
    summary = ImportSummary()
    headers = {"Authorization": f"Bearer {token}"}
    for batch in plan_batches(files):
        response = await _upload(client, batch, headers=headers, folder=folder)
        if response.status_code == 413 and len(batch) > 1:
            for file in batch:  # find the one file over the limit
                single = await _upload(client, [file], headers=headers, folder=folder)
                _record(summary, [file], single)
        else:
            _record(summary, batch, response)
        if on_progress is not None:
            on_progress(len(batch))
    return summary


async def _upload(
    client: httpx.AsyncClient, batch: list[ImportFile], *, headers: dict[str, str], folder: str
) -> httpx.Response:
    handles = [file.path.open("rb") for file in batch]
    try:
        parts = [
            ("files", (file.upload_name, handle, "application/octet-stream"))
            for file, handle in zip(batch, handles, strict=True)
        ]
        data = {"folder": folder} if folder else None
        return await _request(
            client, "POST", "/api/v1/audio/upload", files=parts, data=data, headers=headers
        )
    finally:
        for handle in handles:
            handle.close()


def _record(summary: ImportSummary, batch: list[ImportFile], response: httpx.Response) -> None:
    if response.status_code == 401:
        raise ImportFailed(f"the server refused the token: {_error_message(response)}")
    body = _json(response)
    if response.status_code == 201:
        for item in body.get("items", []):
            if item.get("duplicate"):
                summary.duplicates += 1
            else:
                summary.uploaded += 1
                if item.get("job"):
                    summary.job_ids.append(str(item["job"]["id"]))
        summary.rejected.extend(_rejection(item) for item in body.get("errors", []))
        return
    error = body.get("error", {})
    details = error.get("details")
    if isinstance(details, list) and details and all("filename" in d for d in details):
        # every file of the batch refused, each with its reason
        summary.rejected.extend(_rejection(item) for item in details)
        return
    code, message = error.get("code", str(response.status_code)), _error_message(response)
    summary.rejected.extend((file.upload_name, code, message) for file in batch)


def _rejection(item: dict[str, Any]) -> tuple[str, str, str]:
    """``(filename, code, message)`` of one ``{filename, error: {code, message}}`` entry."""
    error = item.get("error", {})
    return item.get("filename", "?"), error.get("code", "?"), error.get("message", "")


async def wait_for_jobs(
    client: httpx.AsyncClient, job_ids: Sequence[str], *, token: str, give_up_after: float
) -> Counter[str]:
    """Poll until every job is done or failed (or ``give_up_after`` s pass); counts final states.

    Jobs still unfinished at the timeout are counted under their current state.
    """
    headers = {"Authorization": f"Bearer {token}"}
    states: Counter[str] = Counter()
    deadline = time.monotonic() + give_up_after
    # Jobs finish roughly in upload order: wait on the oldest unfinished one only, so a
    # poll costs one request, not one per job.
    for job_id in job_ids:
        while True:
            response = await _request(client, "GET", f"/api/v1/jobs/{job_id}", headers=headers)
            state = str(_json(response).get("status", "missing"))
            if state in ("done", "failed", "missing") or time.monotonic() >= deadline:
                states[state] += 1
                break
            await asyncio.sleep(POLL_SECONDS)
    return states


async def _request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    try:
        return await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ImportFailed(f"cannot reach the server at {client.base_url}: {exc}") from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(response: httpx.Response) -> str:
    error = _json(response).get("error", {})
    return str(error.get("message") or f"HTTP {response.status_code}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--server", envvar="SAMPLEMIND_SERVER", default="http://127.0.0.1:8000", show_default=True,
    help="The SampleMind server [env SAMPLEMIND_SERVER].",
)  # fmt: skip
@click.option("--email", envvar="SAMPLEMIND_EMAIL", help="Account email [env SAMPLEMIND_EMAIL].")
@click.option(
    "--token", envvar="SAMPLEMIND_TOKEN",
    help="An access token instead of email and password [env SAMPLEMIND_TOKEN].",
)  # fmt: skip
@click.option("--folder", default="", help="Library folder to put everything under.")
@click.option("--all-files", is_flag=True, help="Send every file, not only audio file names.")
@click.option("--wait", is_flag=True, help="Wait until every new sample is analysed.")
@click.option(
    "--wait-timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
    help="Seconds --wait waits at most.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_library(
    paths: tuple[Path, ...],
    server: str,
    email: str | None,
    token: str | None,
    folder: str,
    all_files: bool,
    wait: bool,
    wait_timeout: float,
    as_json: bool,
) -> None:
    """Upload audio files and folders to your SampleMind library.

    Sign in with --email (the password is asked, or read from SAMPLEMIND_PASSWORD) or
    pass an access token with --token. Exits with 1 when any file was refused.
    """
    if not token and not email:
        raise click.UsageError("give --email (or SAMPLEMIND_EMAIL) or --token")
    files = collect_files(paths, all_files=all_files)
    refused = refuse_special_files(paths)
    if not files and not refused:
        raise click.UsageError("no audio files found (use --all-files to send every file)")
    summary, states = ImportSummary(), None
    if files:
        summary, states = _import(
            server, files, email=email, token=token, folder=folder,
            wait_timeout=wait_timeout if wait else None, quiet=as_json,
        )  # fmt: skip
    summary.rejected[:0] = refused
    escape_unencodable(sys.stdout)
    _report(summary, states, as_json=as_json)
    if summary.rejected:
        raise SystemExit(1)


def _import(
    server: str,
    files: list[ImportFile],
    *,
    email: str | None,
    token: str | None,
    folder: str,
    wait_timeout: float | None,
    quiet: bool,
) -> tuple[ImportSummary, Counter[str] | None]:
    password = None
    if not token:
        password = os.environ.get("SAMPLEMIND_PASSWORD") or click.prompt(
            "Password", hide_input=True
        )
    try:
        return asyncio.run(
            _run(server, files, email=email, password=password, token=token, folder=folder,
                 wait_timeout=wait_timeout, quiet=quiet)
        )  # fmt: skip
    except ImportFailed as exc:
        raise click.ClickException(str(exc)) from exc


async def _run(
    server: str,
    files: list[ImportFile],
    *,
    email: str | None,
    password: str | None,
    token: str | None,
    folder: str,
    wait_timeout: float | None,
    quiet: bool,
) -> tuple[ImportSummary, Counter[str] | None]:
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=10.0)
    async with httpx.AsyncClient(base_url=server, timeout=timeout) as client:
        if not token:
            token = await login(client, email=email or "", password=password or "")
        with click.progressbar(length=len(files), label="Uploading", hidden=quiet) as bar:
            summary = await import_files(
                client, files, token=token, folder=folder, on_progress=bar.update
            )
        states = None
        if wait_timeout is not None and summary.job_ids:
            states = await wait_for_jobs(
                client, summary.job_ids, token=token, give_up_after=wait_timeout
            )
    return summary, states


def _report(summary: ImportSummary, states: Counter[str] | None, *, as_json: bool) -> None:
    if as_json:
        body = summary.as_dict()
        if states is not None:
            body["analysis"] = dict(states)
        click.echo(json.dumps(body))
        return
    for name, code, message in summary.rejected:
        click.echo(f"refused {name}: {code}: {message}", err=True)
    line = (
        f"{summary.uploaded} uploaded, {summary.duplicates} already in the library, "
        f"{len(summary.rejected)} refused"
    )
    if states is not None:
        line += "; analysis: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    click.echo(line)
