"""``samplemind analyze``: JSON lines, the table, exit codes; in-process and as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from samplemind.analysis.classify import TAXONOMY
from samplemind.analysis.synthetic import rhythm as synth_rhythm
from samplemind.analysis.tags import TAGS
from samplemind.analyze_command import analyze

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "drums"
RATE = 44100
SHA256_HEX = set("0123456789abcdef")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of synthetic files: WAV, FLAC, stereo, a loop, a corrupt file, a text file."""
    root = tmp_path_factory.mktemp("library")
    (root / "drums").mkdir()
    loop = synth_rhythm.drum_loop(100.0, pattern="house", bars=2, sample_rate=RATE)
    sf.write(root / "drums" / "house_loop.wav", loop, RATE, subtype="PCM_16")
    sf.write(root / "drums" / "kick.flac", synth_rhythm.kick(sample_rate=RATE), RATE)
    t = np.arange(RATE) / RATE
    stereo = 0.25 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1)
    sf.write(root / "tone_stereo.wav", stereo, 48000, subtype="FLOAT")
    whole = (root / "drums" / "house_loop.wav").read_bytes()
    (root / "corrupt.wav").write_bytes(whole[: len(whole) // 4])
    (root / "notes.txt").write_text("not audio\n")
    return root


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(analyze, list(args), catch_exceptions=False)


def json_records(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(r["path"]).name: r for r in records}


def assert_sane(record: dict[str, Any]) -> None:
    assert record["error"] is None, record["error"]
    assert set(record["sha256"]) <= SHA256_HEX and len(record["sha256"]) == 64
    assert record["duration"] > 0 and record["sample_rate"] >= 8000
    assert record["channels"] in (1, 2)
    assert record["kind"] in ("one_shot", "loop")
    assert record["peak_dbfs"] is not None and record["peak_dbfs"] <= 0.01
    assert set(record["tags"]) <= set(TAGS) and "embedding" not in record
    assert record["category"] in TAXONOMY
    if record["kind"] == "one_shot":
        assert record["bpm"] is None


def test_json_lines_one_per_file_with_error_codes(library: Path) -> None:
    result = run_cli("--json", "--workers", "2", str(library), str(library / "notes.txt"))
    assert result.exit_code == 1  # the corrupt file and the text file
    records = by_name(json_records(result.stdout))
    assert sorted(records) == sorted(
        ["house_loop.wav", "kick.flac", "tone_stereo.wav", "corrupt.wav", "notes.txt"]
    )
    assert records["corrupt.wav"]["error"]["code"] == "decode_error"
    assert records["notes.txt"]["error"]["code"] == "unsupported_format"
    for name in ("house_loop.wav", "kick.flac", "tone_stereo.wav"):
        assert_sane(records[name])
    assert records["house_loop.wav"]["kind"] == "loop"
    assert abs(records["house_loop.wav"]["bpm"] - 100.0) <= 1.0
    assert records["kick.flac"]["format"] == "FLAC"
    assert records["tone_stereo.wav"]["channels"] == 2
    assert "5 files, 3 ok, 2 errors" in result.stderr
    assert "decode_error: 1" in result.stderr and "unsupported_format: 1" in result.stderr


def test_a_folder_walk_skips_text_files(library: Path) -> None:
    result = run_cli("--json", "--workers", "1", str(library))
    names = [Path(r["path"]).name for r in json_records(result.stdout)]
    assert "notes.txt" not in names and len(names) == 4


@pytest.mark.corpus
def test_corpus_files_analyse_cleanly(library: Path, tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    labels = sorted(p for p in CORPUS.iterdir() if p.is_dir())[:10]
    for label in labels:
        source = sorted(label.glob("*.flac"))[0]
        shutil.copy(source, tmp_path / f"{label.name}__{source.name}")
    result = run_cli("--json", "--workers", "2", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    records = json_records(result.stdout)
    assert len(records) == len(labels)
    for record in records:
        assert_sane(record)
        assert record["format"] == "FLAC"
        assert record["bpm"] is None  # drum hits are one-shots
    kicks = [r for r in records if Path(r["path"]).name.startswith("bd__")]
    assert kicks and all(r["key"] is None for r in kicks)


def test_embedding_flag_adds_the_vector(library: Path) -> None:
    from samplemind.analysis.embedding import EMBEDDING_DIM

    result = run_cli(
        "--json", "--embedding", "--workers", "1", str(library / "drums" / "kick.flac")
    )
    assert result.exit_code == 0
    (record,) = json_records(result.stdout)
    assert len(record["embedding"]) == EMBEDDING_DIM


def test_table_and_summary(library: Path) -> None:
    result = run_cli("--workers", "1", str(library / "drums"))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "name",
        "kind",
        "bpm",
        "key",
        "note",
        "LUFS",
        "peak",
        "dur",
        "error",
    ]
    assert any("house_loop.wav" in line and "loop" in line for line in lines[1:-1])
    assert lines[-1].startswith("2 files, 2 ok, 0 errors")
    assert "files/s" in lines[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["/no/such/path"],
        [],
        ["--workers", "0", "."],
        ["--workers", "-3", "."],
        ["--workers", "many", "."],
        ["--max-duration", "0", "."],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(analyze, args)
    assert result.exit_code == 2
    assert "Usage" in result.output
    if "--workers" in args:
        assert "Invalid value for '--workers'" in result.output


def test_help_documents_the_workers_cap() -> None:
    from samplemind.analysis.batch import MAX_WORKERS

    result = run_cli("--help")
    assert "one per file" in result.output
    assert f"{MAX_WORKERS} on this machine" in " ".join(result.output.split())


def test_nothing_to_analyse_exits_1(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("hi")
    result = run_cli(str(tmp_path))
    assert result.exit_code == 1
    assert "no files" in result.stderr


def analyze_command(*args: str) -> list[str]:
    """The installed ``samplemind analyze`` entry point when there is one."""
    entry_point = Path(sys.executable).with_name("samplemind")
    if entry_point.exists():
        return [str(entry_point), "analyze", *args]
    return [sys.executable, "-m", "samplemind.analyze_command", *args]


def test_as_a_real_process(library: Path) -> None:
    command = analyze_command("--json", str(library))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    records = by_name(json_records(done.stdout))
    assert records["corrupt.wav"]["error"]["code"] == "decode_error"
    assert_sane(records["kick.flac"])
    assert "4 files, 3 ok, 1 error" in done.stderr


def test_a_fifo_or_a_device_named_explicitly_gets_an_error_record(
    library: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    kick = library / "drums" / "kick.flac"
    for workers in ("1", "2"):
        command = analyze_command("--json", "--workers", workers, str(fifo), "/dev/zero", str(kick))
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 1, done.stderr
        records = by_name(json_records(done.stdout))
        for name in ("pipe.wav", "zero"):
            assert records[name]["error"]["code"] == "unsupported_format", records[name]
            assert "not a regular file" in records[name]["error"]["message"]
        assert "named pipe" in records["pipe.wav"]["error"]["message"]
        assert "device" in records["zero"]["error"]["message"]
        assert_sane(records["kick.flac"])
        assert "3 files, 1 ok, 2 errors" in done.stderr


STDOUT_ENVIRONMENTS = {
    # Python escapes undecodable bytes back to raw bytes on stdout in this locale
    "C.UTF-8 locale": {"LC_ALL": "C.UTF-8"},
    # as in a desktop's en_US.UTF-8 locale: stdout refuses surrogate escapes
    "strict UTF-8": {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
    "Latin-1 terminal": {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "latin-1"},
}


def _environment(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    return {**env, "PYTHONUTF8": "0", **overrides}


def _without_surrogates(value: Any) -> None:
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate


@pytest.fixture
def latin1_named(library: Path, tmp_path: Path) -> Path:
    """A copy of a valid file under a name that is not UTF-8 (Latin-1 ``café``)."""
    folder = tmp_path / "old pack"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9 kick.flac")
    shutil.copy(library / "drums" / "kick.flac", folder / name)
    return folder


@pytest.mark.parametrize("stdout", sorted(STDOUT_ENVIRONMENTS))
@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_name_that_is_not_utf8_is_printed_escaped(
    latin1_named: Path, given: str, stdout: str
) -> None:
    path = latin1_named if given == "folder" else next(latin1_named.iterdir())
    env = _environment(STDOUT_ENVIRONMENTS[stdout])
    for mode in ((), ("--json",)):
        command = analyze_command(*mode, "--workers", "1", str(path))
        done = subprocess.run(command, capture_output=True, timeout=120, check=False, env=env)
        stdout, stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
        assert done.returncode == 0, stderr
        assert "Traceback" not in stderr
        if mode:
            [record] = json_records(stdout)
            _without_surrogates(record)
            assert record["path"].endswith("caf\\xe9 kick.flac"), record["path"]
            assert_sane(record)
        else:
            assert "caf\\xe9 kick.flac" in stdout
