"""Property-based fuzzing of every operation in our OpenAPI schema (schemathesis): no
input the schema allows or forbids may give a 500, an undocumented status, or a body
that breaks the documented schema. Runs against a real server and database, with a
sample in the library so the id-taking operations reach their logic."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import httpx

from samplemind.app import create_app
from tests.conftest import live_server
from tests.samples.conftest import corpus_file, library_settings, new_account

EXAMPLES_PER_OPERATION = 25
SEED = 20261201
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])  # fmt: skip


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a dev dependency: pip install -e '.[dev]'"
    return found


async def test_no_generated_request_breaks_the_api(database_url: str, tmp_path: Path) -> None:
    settings = library_settings(database_url, tmp_path)
    async with (
        live_server(create_app(settings)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        alice = await new_account(client, "fuzz@example.com")
        [sample] = await alice.ingest(corpus_file("sd"))
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[parameters]\n"
            f'audio_id = "{sample["id"]}"\n'
            f'"query.similar_to" = "{sample["id"]}"\n'
            f'"query.compatible_with" = "{sample["id"]}"\n'
        )
        process = await asyncio.create_subprocess_exec(
            _schemathesis(), "--no-color", "--config-file", str(config), "run",
            f"{base}/api/openapi.json",
            "--header", f"Authorization: Bearer {alice.token}",
            "--checks", CHECKS,
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--seed", str(SEED),
            "--workers", "1",
            # these end the fuzzer's own session or delete its sample
            "--exclude-path", "/api/v1/auth/logout",
            "--exclude-path", "/api/v1/auth/logout-all",
            "--exclude-method", "DELETE",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )  # fmt: skip
        output, _ = await process.communicate()
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts is not None, report[-2000:]
    generated, passed = map(int, counts.groups())
    assert generated == passed > 20 * EXAMPLES_PER_OPERATION, report[-2000:]
