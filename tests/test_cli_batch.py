"""`sagemaker-rt batch`: one record per input line, resumable, loss-free when killed.

Runs go through the real client and a real socket against a fake on 127.0.0.1 (in-process
`main([...])`, or the command as a subprocess for the kill test). The invariant checked
everywhere: OUTPUT holds its header, then exactly one record per non-blank input line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _batch import read_output, served_with_environ, write_input

from sagemaker_rt_async.cli import main
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    LoopbackServer,
    ModelFailure,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """``double``: answers ``{"n": 2n}`` after a short pause; ``n == 13`` is a model error.
    ``echo``: answers the request's body, content type and custom attributes."""
    f = FakeSageMakerRuntime()

    async def double(inv: Invocation) -> Any:
        await anyio.sleep(0.002)
        n = int(inv.json()["n"])
        if n == 13:
            raise ModelFailure(400, "unlucky")
        return {"n": n * 2}

    def echo(inv: Invocation) -> Any:
        return {
            "body": inv.text,
            "content_type": inv.content_type,
            "custom_attributes": inv.custom_attributes,
        }

    f.add_endpoint("double", double)
    f.add_endpoint("echo", echo)
    return f


@pytest.fixture
def server(
    fake: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake on loopback, this process's AWS environment pointing at it."""
    with served_with_environ(fake, monkeypatch, tmp_path) as srv:
        yield srv


def _check_once(path: Path, lines: list[str]) -> dict[int, dict[str, Any]]:
    """OUTPUT has exactly one record per non-blank input line (and nothing else)."""
    _, records = read_output(path)
    counts = Counter(r["line"] for r in records)
    expected = {i for i, line in enumerate(lines, start=1) if line.strip()}
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    return {r["line"]: r for r in records}


def test_one_record_per_line_errors_in_place_and_resume_sends_nothing_twice(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """Each line is answered or carries its own error (a model error; a line that is not JSON,
    never sent); blank lines are no requests; the exit status is 1 as lines failed; a rerun
    with the same OUTPUT sends nothing and changes nothing."""
    lines = [json.dumps({"n": n}) for n in range(40)]
    lines[5] = "{not json"
    lines.insert(8, "")
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    assert main(["batch", "double", str(source), str(target), "--concurrency", "6"]) == 1
    header, _ = read_output(target)
    assert header["input"] == str(source.resolve()) and len(header["sha256"]) == 64
    by_line = _check_once(target, lines)
    assert by_line[6]["error"]["type"] == "ParamValidationError"
    assert "line 6 is not JSON" in by_line[6]["error"]["message"]
    failed = [r for r in by_line.values() if r["status"] != "ok"]
    assert len(failed) == 2
    for number, record in by_line.items():
        if record["status"] == "ok":
            assert record["body"] == {"n": json.loads(lines[number - 1])["n"] * 2}
    assert by_line[15]["error"]["type"] == "ModelError"  # {"n": 13}, after the blank line
    assert len(server.fake.requests) == 39
    before = target.read_bytes()
    assert main(["batch", "double", str(source), str(target)]) == 1
    assert target.read_bytes() == before
    assert len(server.fake.requests) == 39


def test_exit_status_zero_when_every_line_succeeded(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """No failed line: exit 0, one record per line."""
    lines = [json.dumps({"n": n}) for n in range(20, 30)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    assert main(["batch", "double", str(source), str(target), "--quiet"]) == 0
    _check_once(target, lines)


def test_a_record_cut_by_a_kill_is_dropped_and_its_line_sent_again(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """OUTPUT ending in a partial record (killed mid-write): the resume cuts it off and answers
    that line, and only the lines not recorded are sent."""
    lines = [json.dumps({"n": n}) for n in range(20, 30)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    assert main(["batch", "double", str(source), str(target), "--quiet"]) == 0
    whole = target.read_text().splitlines(keepends=True)
    kept = whole[:4]  # the header and lines' records 1..3 in completion order
    target.write_text("".join(kept) + whole[4][: len(whole[4]) // 2])
    sent = len(server.fake.requests)
    assert main(["batch", "double", str(source), str(target), "--quiet"]) == 0
    _check_once(target, lines)
    assert len(server.fake.requests) - sent == len(lines) - 3


def test_a_header_cut_by_a_kill_is_written_again(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """OUTPUT holding only the start of its own header (killed while creating it): the run
    writes the header again and answers every line."""
    lines = [json.dumps({"n": n}) for n in range(3)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    assert main(["batch", "double", str(source), str(target), "--quiet"]) == 0
    header = target.read_text().splitlines()[0]
    target.write_text(header[:25])
    assert main(["batch", "double", str(source), str(target), "--quiet"]) == 0
    assert target.read_text().splitlines()[0] == header
    _check_once(target, lines)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing input", "cannot read INPUT"),
        ("output in a missing directory", "cannot write OUTPUT"),
        ("output is a directory", "cannot write OUTPUT"),
        ("output of another input", "holds results of another input"),
        ("output not ours", "is not a `sagemaker-rt batch` output"),
        ("one line not ours, no newline", "is not a `sagemaker-rt batch` output"),
    ],
)
def test_bad_files_are_refused_before_any_request(
    server: LoopbackServer[FakeSageMakerRuntime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    """A missing INPUT, an unwritable OUTPUT, an OUTPUT of another INPUT or of another program:
    exit 2 with a clear message, nothing sent, an existing OUTPUT left as it was."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": 1})])
    target = tmp_path / "out.jsonl"
    if case == "missing input":
        source = tmp_path / "missing.jsonl"
    elif case == "output in a missing directory":
        target = tmp_path / "no" / "out.jsonl"
    elif case == "output is a directory":
        target.mkdir()
    elif case == "output of another input":
        other = write_input(tmp_path / "other.jsonl", [json.dumps({"n": 2})])
        assert main(["batch", "double", str(other), str(target), "--quiet"]) == 0
        server.fake.requests.clear()
    elif case == "one line not ours, no newline":  # not a header cut by a kill: kept
        target.write_text("precious data")
    else:
        target.write_text("precious data\n")
    before = target.read_bytes() if target.is_file() else None
    capsys.readouterr()
    assert main(["batch", "double", str(source), str(target)]) == 2
    assert message in capsys.readouterr().err
    assert server.fake.requests == []
    assert (target.read_bytes() if target.is_file() else None) == before


def test_per_line_options(server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path) -> None:
    """--per-line-options: a string body goes as it is, another value as JSON, each line's
    members travel with it; an unknown key or a bad member value is that line's error only."""
    lines = [
        json.dumps({"body": "plain text", "content_type": "text/plain"}),
        json.dumps({"body": {"a": 1}, "custom_attributes": "trace=7"}),
        json.dumps({"body": "x", "colour": "red"}),
        json.dumps({"body": "x", "custom_attributes": "bad\nvalue"}),
        json.dumps(["no", "body"]),
    ]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    code = main(["batch", "echo", str(source), str(target), "--per-line-options", "--quiet"])
    assert code == 1
    by_line = _check_once(target, lines)
    assert by_line[1]["body"] == {
        "body": "plain text",
        "content_type": "text/plain",
        "custom_attributes": None,
    }
    assert by_line[2]["body"] == {
        "body": '{"a":1}',
        "content_type": "application/json",
        "custom_attributes": "trace=7",
    }
    assert "unknown keys ['colour']" in by_line[3]["error"]["message"]
    assert "custom_attributes" in by_line[4]["error"]["message"]
    assert by_line[4]["error"]["type"] == "ParamValidationError"
    assert 'not an object with a "body"' in by_line[5]["error"]["message"]
    assert len(server.fake.requests) == 2


def test_an_error_for_every_line_stops_the_batch(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """A bad shared option would fail every line: exit 2 at once, no record written."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": n}) for n in range(100)])
    target = tmp_path / "out.jsonl"
    code = main(["batch", "double", str(source), str(target), "--custom-attributes", "a\nb"])
    assert code == 2
    header, records = read_output(target)
    assert records == [] and header["sha256"]
    assert server.fake.requests == []


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_killed_repeatedly_then_resumed_every_line_exactly_once(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """SIGKILL the command mid-run again and again (each time after it recorded more lines),
    then let it finish: OUTPUT holds every line exactly once, each with its own answer."""
    total = 2_000
    lines = [json.dumps({"n": n}) for n in range(100, 100 + total)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "sagemaker_rt_async.cli", "batch", "double"]
    command += [str(source), str(target), "--concurrency", "8", "--quiet"]
    env = {**os.environ, **server.environ()}
    kills = 0
    deadline = time.monotonic() + 120
    for _ in range(5):
        before = _count_lines(target)
        proc = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if _count_lines(target) >= before + 150:
                    os.kill(proc.pid, signal.SIGKILL)  # mid-run: it has more lines to do
                    kills += 1
                    break
                time.sleep(0.005)
        finally:
            if proc.poll() is None and time.monotonic() >= deadline:
                proc.kill()
            proc.wait(timeout=30)
            assert proc.stderr is not None
            proc.stderr.close()
    assert kills >= 3, "the command should have been killed mid-run several times"
    assert _count_lines(target) < total + 1
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    by_line = _check_once(target, lines)
    for number, record in by_line.items():
        assert record["body"] == {"n": json.loads(lines[number - 1])["n"] * 2}
