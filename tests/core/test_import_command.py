"""``samplemind import`` against a real server on a TCP port (uvicorn in a thread)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from click.testing import CliRunner

from samplemind.app import create_app
from samplemind.cli import cli
from samplemind.core.config import Settings
from samplemind.import_command import ImportFile, collect_files, plan_batches
from tests.conftest import free_port
from tests.samples.conftest import PASSWORD, corpus_file, library_settings, wav_bytes


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def register(server: str, email: str) -> None:
    response = httpx.post(
        f"{server}/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


def library(server: str, email: str) -> list[dict[str, object]]:
    tokens = httpx.post(
        f"{server}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    page = httpx.get(f"{server}/api/v1/audio", headers=headers, params={"page_size": 100})
    return list(page.json()["items"])


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_import(server: str, *args: str, password: str = PASSWORD) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["import", "--server", server, "--email", "alice@example.com", *args],
        env={"SAMPLEMIND_PASSWORD": password},
    )
    return result.exit_code, result.output


def test_collect_files_keeps_the_layout_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "Drums"
    write(root / "Kicks" / "BD 01.wav", b"x")
    write(root / "Snares" / "SD.FLAC", b"x")
    write(root / "notes.txt", b"x")
    write(root / ".DS_Store", b"x")
    write(root / ".git" / "hit.wav", b"x")
    single = write(tmp_path / "loose.txt", b"x")
    names = [file.upload_name for file in collect_files([root, single])]
    assert names == ["Drums/Kicks/BD 01.wav", "Drums/Snares/SD.FLAC", "loose.txt"]
    everything = [file.upload_name for file in collect_files([root], all_files=True)]
    assert everything == ["Drums/Kicks/BD 01.wav", "Drums/Snares/SD.FLAC", "Drums/notes.txt"]


def test_batches_bound_files_and_bytes() -> None:
    files = [ImportFile(Path(f"{i}.wav"), f"{i}.wav", size) for i, size in enumerate([5, 5, 20, 1])]
    sizes = [[file.size for file in batch] for batch in plan_batches(files, max_bytes=10)]
    assert sizes == [[5, 5], [20], [1]]
    assert [len(b) for b in plan_batches(files, max_files=3, max_bytes=100)] == [3, 1]
    with pytest.raises(ValueError):
        plan_batches(files, max_files=0)


def test_import_uploads_a_folder_tree_and_reports_every_refusal(
    database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "Drums"
    kick, snare = corpus_file("bd"), corpus_file("sd")
    write(root / "Kicks" / kick[0], kick[1])
    write(root / "Snares" / snare[0], snare[1])
    write(root / "Snares" / "copy of snare.flac", snare[1])
    write(root / "broken.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    write(root / "readme.txt", b"not audio")
    settings = library_settings(database_url, tmp_path)
    with serving(settings) as server:
        register(server, "alice@example.com")
        code, output = run_import(server, str(root), "--wait", "--json")
        items = library(server, "alice@example.com")
    summary = json.loads(output.strip().splitlines()[-1])
    assert code == 1  # a file was refused
    assert (summary["uploaded"], summary["duplicates"]) == (2, 1)
    [refused] = summary["rejected"]
    assert refused["file"] == "Drums/broken.wav" and refused["code"] in (
        "decode_error",
        "unsupported_format",
    )
    assert summary["analysis"] == {"done": 2}
    folders = sorted(str(item["folder_path"]) for item in items)
    assert folders == ["Drums/Kicks", "Drums/Snares"]
    assert all(item["status"] == "ready" for item in items)


def test_a_file_over_the_size_limit_does_not_cost_its_batch(
    database_url: str, tmp_path: Path
) -> None:
    kick = corpus_file("bd")
    write(tmp_path / "in" / kick[0], kick[1])
    big = wav_bytes(np.zeros(200_000, dtype=np.float32))
    write(tmp_path / "in" / "long silence.wav", big)
    settings = library_settings(database_url, tmp_path, max_upload_bytes=len(kick[1]) + 1000)
    with serving(settings) as server:
        register(server, "alice@example.com")
        code, output = run_import(server, str(tmp_path / "in"), "--json")
        items = library(server, "alice@example.com")
    summary = json.loads(output.strip().splitlines()[-1])
    assert code == 1 and summary["uploaded"] == 1
    assert [(r["file"], r["code"]) for r in summary["rejected"]] == [
        ("in/long silence.wav", "payload_too_large")
    ]
    assert [item["original_filename"] for item in items] == [kick[0]]


def test_a_wrong_password_or_no_server_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    write(tmp_path / "hit.wav", wav_bytes(np.zeros(1000, dtype=np.float32)))
    settings = library_settings(database_url, tmp_path)
    with serving(settings) as server:
        register(server, "alice@example.com")
        code, output = run_import(server, str(tmp_path / "hit.wav"), password="wrong password")
        assert library(server, "alice@example.com") == []
    assert code == 1 and "login failed" in output
    code, output = run_import(f"http://127.0.0.1:{free_port()}", str(tmp_path / "hit.wav"))
    assert code == 1 and "cannot reach the server" in output


def import_process(server: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``samplemind import`` as a real process, in a UTF-8 locale whose stdout is strict."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIO"))}
    env.update({"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "0"})
    env["SAMPLEMIND_PASSWORD"] = PASSWORD
    samplemind = Path(sys.executable).with_name("samplemind")
    command = [str(samplemind), "import", "--server", server, "--email", "alice@example.com"]
    return subprocess.run([*command, *args], capture_output=True, timeout=120, check=False, env=env)


def test_a_file_name_that_is_not_utf8_is_uploaded_with_replacement_characters(
    database_url: str, tmp_path: Path
) -> None:
    kick, snare = corpus_file("bd"), corpus_file("sd")
    root = tmp_path / "Old pack"
    write(root / os.fsdecode(b"caf\xe9 kick.flac"), kick[1])
    write(root / snare[0], snare[1])
    settings = library_settings(database_url, tmp_path)
    with serving(settings) as server:
        register(server, "alice@example.com")
        plain = import_process(server, str(root / os.fsdecode(b"caf\xe9 kick.flac")))
        as_json = import_process(server, "--json", str(root))
        items = library(server, "alice@example.com")
    assert plain.returncode == 0, plain.stderr.decode(errors="replace")
    assert plain.stdout.decode().strip().endswith("1 uploaded, 0 already in the library, 0 refused")
    assert as_json.returncode == 0, as_json.stderr.decode(errors="replace")
    summary = json.loads(as_json.stdout.decode("utf-8").strip().splitlines()[-1])
    assert (summary["uploaded"], summary["duplicates"], summary["rejected"]) == (1, 1, [])
    names = sorted(str(item["original_filename"]) for item in items)
    assert names == sorted(["caf\ufffd kick.flac", snare[0]])


def test_a_named_pipe_named_explicitly_is_refused_and_the_rest_uploaded(
    database_url: str, tmp_path: Path
) -> None:
    kick = write(tmp_path / "kick.flac", corpus_file("bd")[1])
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    settings = library_settings(database_url, tmp_path)
    with serving(settings) as server:
        register(server, "alice@example.com")
        done = import_process(server, "--json", str(fifo), "/dev/zero", str(kick))
        items = library(server, "alice@example.com")
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    summary = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    assert summary["uploaded"] == 1
    refused = {(r["file"], r["code"]) for r in summary["rejected"]}
    assert refused == {("pipe.wav", "unsupported_format"), ("zero", "unsupported_format")}
    assert all("not a regular file" in r["message"] for r in summary["rejected"])
    assert [item["original_filename"] for item in items] == ["kick.flac"]
