"""``samplemind analyze PATH...``: analyse files and folders from the command line.

Output: with ``--json``, one JSON object (the analysis record) per line on
stdout, flushed per line, and the summary on stderr; without, an aligned table
and a summary line on stdout. A progress line goes to stderr only when stderr is
a terminal.

A file name that is not valid UTF-8 is printed, in the table and in the JSON
``path``, with its undecodable bytes as ``\\xNN`` escapes; characters the output's
encoding cannot show are printed as escapes too, so a name never stops the run.

Exit status: 0 when every file was analysed, 1 when at least one record has an
``error`` (or no file was found to analyse, or stdout was closed early), 2 for
usage errors such as a path that does not exist.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import click

from samplemind.analysis.batch import MAX_WORKERS, analyze_many, iter_audio_paths
from samplemind.analysis.pipeline import DEFAULT_MAX_DURATION
from samplemind.analysis.record import AnalysisRecord
from samplemind.core.printable import escape_unencodable, printable, printable_strings

__all__ = ["analyze", "main"]

_MAX_NAME_WIDTH = 48
_COLUMNS: tuple[tuple[str, int, str], ...] = (
    # header, width, alignment ("<" left, ">" right)
    ("kind", 8, "<"),
    ("bpm", 7, ">"),
    ("key", 9, "<"),
    ("note", 4, "<"),
    ("LUFS", 6, ">"),
    ("peak", 6, ">"),
    ("dur", 7, ">"),
    ("error", 0, "<"),
)


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per line.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help=(
        "Processes to use (default: the number of CPUs; 1 = no pool). At most one per file "
        f"and 4 per CPU ({MAX_WORKERS} on this machine)."
    ),
)
@click.option("--embedding", is_flag=True, help="Include the timbre embedding in the JSON records.")
@click.option(
    "--max-duration",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_MAX_DURATION,
    show_default=True,
    help="Longest audio to analyse, in seconds; longer files get error too_long.",
)
@click.pass_context
def analyze(
    ctx: click.Context,
    paths: tuple[Path, ...],
    as_json: bool,
    workers: int | None,
    embedding: bool,
    max_duration: float,
) -> None:
    """Analyse audio files and folders (recursively): tempo, key, loudness, pitch, kind.

    Exits 0 if every file was analysed, 1 if any file has an error.
    """
    files = list(iter_audio_paths(paths))
    if not files:
        click.echo("samplemind analyze: no files to analyse", err=True)
        ctx.exit(1)
    escape_unencodable(sys.stdout)
    stderr = sys.stderr
    progress = _Progress(len(files), stream=stderr, enabled=stderr.isatty())
    table = None if as_json else _Table(_name_width(files))
    if table is not None:
        click.echo(table.header())
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    records = analyze_many(
        files, workers=workers, embedding=embedding and as_json, max_duration=max_duration
    )
    try:
        for done, record in enumerate(records, start=1):
            progress.clear()
            if table is None:
                click.echo(_json_line(record, include_embedding=embedding))
            else:
                click.echo(table.row(record))
            if record.error is not None:
                errors[record.error["code"]] += 1
            progress.show(done)
    except BrokenPipeError:
        _silence_stdout()
        ctx.exit(1)
    finally:
        progress.clear()
    elapsed = time.perf_counter() - started
    click.echo(_summary(len(files), errors, elapsed), err=as_json)
    ctx.exit(1 if errors else 0)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command alone (``python -m samplemind.analyze_command``)."""
    analyze.main(args=list(argv) if argv is not None else None, prog_name="samplemind analyze")


def _json_line(record: AnalysisRecord, *, include_embedding: bool) -> str:
    data = printable_strings(record.as_dict(include_embedding=include_embedding))
    return json.dumps(data, allow_nan=False)


def _summary(total: int, errors: Counter[str], elapsed: float) -> str:
    n_errors = sum(errors.values())
    text = f"{total} files, {total - n_errors} ok, {n_errors} error{'' if n_errors == 1 else 's'}"
    if errors:
        text += " (" + ", ".join(f"{code}: {n}" for code, n in sorted(errors.items())) + ")"
    rate = total / elapsed if elapsed > 0 else float("inf")
    return f"{text}; {elapsed:.1f} s, {rate:.1f} files/s"


def _name_width(files: Sequence[Path]) -> int:
    return max(4, min(_MAX_NAME_WIDTH, max(len(printable(str(path))) for path in files)))


class _Table:
    """Fixed-width rows, so each can be printed as soon as its record arrives."""

    def __init__(self, name_width: int) -> None:
        self.name_width = name_width

    def header(self) -> str:
        return self._line(["name", *(title for title, _, _ in _COLUMNS)])

    def row(self, record: AnalysisRecord) -> str:
        error = record.error["code"] if record.error else ""
        cells = [
            _shorten(printable(record.path), self.name_width),
            record.kind or "-",
            _number(record.bpm, ".2f"),
            record.key or "-",
            record.root_note or "-",
            _number(record.loudness_lufs, ".1f"),
            _number(record.peak_dbfs, ".1f"),
            _number(record.duration, ".2f", suffix="s"),
            error,
        ]
        return self._line(cells)

    def _line(self, cells: Sequence[str]) -> str:
        parts = [f"{cells[0]:<{self.name_width}}"]
        parts += [
            f"{cell:{align}{width}}"
            for cell, (_, width, align) in zip(cells[1:], _COLUMNS, strict=True)
        ]
        return "  ".join(parts).rstrip()


def _shorten(text: str, width: int) -> str:
    """Keep the end of a long path (the file name), marking the cut with '…'."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def _number(value: float | None, spec: str, *, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


class _Progress:
    """A single ``\\r`` status line on stderr, redrawn at most ten times a second.

    It is erased before each output line, and drawn again after it.
    """

    def __init__(self, total: int, *, stream: TextIO, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.started = time.perf_counter()
        self.last_drawn = 0.0
        self.width = 0

    def show(self, done: int) -> None:
        now = time.perf_counter()
        throttled = self.width and now - self.last_drawn < 0.1 and done < self.total
        if not self.enabled or throttled:
            return
        rate = done / (now - self.started) if now > self.started else 0.0
        text = f"analysing {done}/{self.total} ({rate:.1f} files/s)"
        self.stream.write("\r" + text)
        self.stream.flush()
        self.width, self.last_drawn = len(text), now

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def _silence_stdout() -> None:
    """After the reader went away (``| head``), stop further writes from failing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
