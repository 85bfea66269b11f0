"""`sagemaker-rt batch --async`: one job per line, its locations recorded, --wait collects them.

Runs go through the real client and a real socket against the fake on 127.0.0.1 (SageMaker and
its in-memory S3 on one server): in-process `main([...])`, or the command as a subprocess for
the kill tests. The invariants: OUTPUT's last record of each non-blank line is its final result
once waited for; no line is ever submitted twice (counted at the fake, by inference id) unless
--resubmit-unknown asked for it; nothing is sent before the command line and files are checked.
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

import pytest
from _batch import read_output, served_with_environ, write_input

from sagemaker_rt_async.cli import EXIT_ASYNC_TIMEOUT, main
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    Invocation,
    LoopbackServer,
    ModelFailure,
)

ROOT = Path(__file__).resolve().parents[1]
STAGING = "s3://batch-inputs/staged/"


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """``square`` (async): answers ``{"n": n*n}`` 20 ms after submission; ``n == 13`` fails.
    ``slow`` (async): answers after an hour. ``realtime``: not an async endpoint."""
    f = FakeSageMakerRuntime()

    def square(inv: Invocation) -> Any:
        n = int(inv.json()["n"])
        if n == 13:
            raise ModelFailure(400, "unlucky")
        return {"n": n * n}

    out, failures = "s3://batch-results/out", "s3://batch-results/failures"
    f.add_endpoint(
        "square", square, async_output_path=out, async_failure_path=failures, processing_time=0.02
    )
    f.add_endpoint(
        "slow", square, async_output_path=out, async_failure_path=failures, processing_time=3600
    )
    f.add_endpoint("realtime", square)
    return f


@pytest.fixture
def server(
    fake: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake on loopback, this process's AWS environment pointing at it."""
    with served_with_environ(fake, monkeypatch, tmp_path) as srv:
        yield srv


def _last(path: Path) -> dict[int, dict[str, Any]]:
    """Each line's last record (the one that counts)."""
    _, records = read_output(path)
    return {r["line"]: r for r in records}


def _submissions(fake: FakeSageMakerRuntime) -> Counter[str]:
    """InvokeEndpointAsync requests the fake received, by inference id."""
    return Counter(
        r.header("x-amzn-sagemaker-inference-id") or "?"
        for r in fake.requests
        if r.path.endswith("/async-invocations")
    )


def _batch(*extra: str, endpoint: str = "square") -> list[str]:
    return ["batch", endpoint, *extra, "--async", "--upload-to", STAGING, "--quiet"]


def test_submit_then_wait_records_each_lines_result_and_rerun_sends_nothing(
    server: LoopbackServer[FakeSageMakerRuntime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Submit only: every line's job recorded with its locations, its body staged in S3 under
    a key fixed by INPUT's hash and the line number (exit 1: one line is not JSON, its error
    recorded, never sent), and the hint names the command that collects them. Then --wait:
    each line's result (a model failure as that line's error, the malformed line's error
    kept), exit 1 as lines failed. A rerun sends and uploads nothing and leaves OUTPUT as it
    was."""
    lines = [json.dumps({"n": n}) for n in range(20)]
    lines[4] = "{not json"
    lines.insert(7, "")
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    fake = server.fake
    assert main(_batch(str(source), str(target), "--concurrency", "4")) == 1  # line 5
    err = capsys.readouterr().err
    header, _ = read_output(target)
    assert header["mode"] == "async" and len(header["sha256"]) == 64
    by_line = _last(target)
    assert set(by_line) == {n for n, line in enumerate(lines, start=1) if line}
    assert (
        by_line[5]["status"] == "error" and "line 5 is not JSON" in by_line[5]["error"]["message"]
    )
    submitted = {n: r for n, r in by_line.items() if r["status"] == "submitted"}
    assert len(submitted) == 19
    for number, record in submitted.items():
        assert record["output_location"].startswith("s3://batch-results/out/")
        assert record["failure_location"].startswith("s3://batch-results/failures/")
        assert record["submitted_at_utc"].endswith("Z")
        key = f"staged/{header['sha256'][:16]}/{number}.input"
        assert record["input_location"] == f"s3://batch-inputs/{key}"
        assert fake.s3.get("batch-inputs", key) == lines[number - 1].encode()
    assert set(_submissions(fake).values()) == {1} and sum(_submissions(fake).values()) == 19
    resume = f"{str(target)!r}"[1:-1]
    assert "19 pending" in err and "--wait" in err and resume in err

    assert main(_batch(str(source), str(target), "--wait", "--poll-interval", "0.02")) == 1
    by_line = _last(target)
    for number, record in by_line.items():
        n = json.loads(lines[number - 1])["n"] if number != 5 else None
        if n == 13:
            assert record["status"] == "error"
            assert record["error"]["type"] == "AsyncInferenceFailure"
            assert "unlucky" in record["error"]["message"]
            assert record["error"]["failure_location"].startswith("s3://batch-results/failures/")
        elif n is not None:
            assert record == {
                "line": number,
                "status": "ok",
                "body": {"n": n * n},
                "content_type": "application/json",
                "output_location": submitted[number]["output_location"],
                "inference_id": submitted[number]["inference_id"],
            }
    assert sum(_submissions(fake).values()) == 19
    before, puts = target.read_bytes(), len([r for r in fake.s3.requests if r.method == "PUT"])
    assert main(_batch(str(source), str(target), "--wait")) == 1
    assert target.read_bytes() == before
    assert sum(_submissions(fake).values()) == 19
    assert len([r for r in fake.s3.requests if r.method == "PUT"]) == puts


def test_one_command_submits_and_waits_exit_zero_when_all_ok(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """--async --wait in one run, no failing line: exit 0, each line ok exactly once (last
    records), per-line options travel with their line's job."""
    lines = [json.dumps({"body": {"n": n}, "custom_attributes": f"n={n}"}) for n in range(1, 9)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    code = main(
        _batch(str(source), str(target), "--wait", "--poll-interval", "0.02", "--per-line-options")
    )
    assert code == 0
    by_line = _last(target)
    assert {n: r["body"] for n, r in by_line.items()} == {n: {"n": n * n} for n in range(1, 9)}
    attributes = {
        r.header("x-amzn-sagemaker-custom-attributes")
        for r in server.fake.requests
        if r.path.endswith("/async-invocations")
    }
    assert attributes == {f"n={n}" for n in range(1, 9)}


def test_wait_timeout_leaves_jobs_pending_with_its_own_exit_code(
    server: LoopbackServer[FakeSageMakerRuntime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Jobs still running at --wait-timeout: exit 8, nothing final recorded for them, and the
    message gives the command that resumes waiting, which submits nothing again."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": n}) for n in range(3)])
    target = tmp_path / "out.jsonl"
    argv = _batch(str(source), str(target), "--wait", "--wait-timeout", "0.3", endpoint="slow")
    assert main(argv) == EXIT_ASYNC_TIMEOUT
    err = capsys.readouterr().err
    assert {r["status"] for r in _last(target).values()} == {"submitted"}
    assert "3 pending" in err and "resume waiting (nothing is submitted again)" in err
    resume = err.split("resume waiting (nothing is submitted again): ")[1].splitlines()[0]
    assert resume.startswith("sagemaker-rt batch slow") and "--wait" in resume
    assert "--resubmit-unknown" not in resume
    import shlex

    assert main(shlex.split(resume)[1:]) == EXIT_ASYNC_TIMEOUT
    assert sum(_submissions(server.fake).values()) == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--async"], "--async needs --upload-to s3://bucket/prefix/"),
        (["--async", "--upload-to", "https://x/y/"], "must be an s3://bucket/prefix/ URI"),
        (["--async", "--upload-to", "s3:///prefix/"], "'' is not a valid bucket name"),
        (["--async", "--upload-to", STAGING, "--target-variant", "v"], "--target-variant"),
        (["--wait"], "--wait apply to async batches: add --async"),
        (["--upload-to", STAGING], "--upload-to apply to async batches"),
    ],
)
def test_flags_of_the_other_mode_are_usage_errors_before_any_file_or_request(
    server: LoopbackServer[FakeSageMakerRuntime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """--async without --upload-to (or with a bad one), a real-time flag with --async, an
    async flag without it: exit 2 naming the flag; OUTPUT is not even created."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": 1})])
    target = tmp_path / "out.jsonl"
    assert main(["batch", "square", str(source), str(target), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not target.exists()
    assert server.fake.requests == [] and server.fake.s3.requests == []


@pytest.mark.parametrize("case", ["another input", "real-time output", "async into real-time"])
def test_an_output_that_is_not_this_async_batchs_is_refused_before_any_request(
    server: LoopbackServer[FakeSageMakerRuntime],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    """`--wait` over the OUTPUT of another INPUT, --async over a real-time OUTPUT, or a
    real-time rerun over an async OUTPUT: exit 2, nothing sent or uploaded, OUTPUT unchanged."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": 1})])
    target = tmp_path / "out.jsonl"
    if case == "another input":
        other = write_input(tmp_path / "other.jsonl", [json.dumps({"n": 2})])
        assert main(_batch(str(other), str(target))) == 0
        argv, expected = _batch(str(source), str(target), "--wait"), "holds results of another"
    elif case == "real-time output":
        assert main(["batch", "realtime", str(source), str(target), "--quiet"]) == 0
        argv, expected = _batch(str(source), str(target), "--wait"), "holds real-time results"
    else:
        assert main(_batch(str(source), str(target))) == 0
        argv, expected = ["batch", "realtime", str(source), str(target)], "add --async"
    server.fake.requests.clear()
    server.fake.s3.requests.clear()
    before = target.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert server.fake.requests == [] and server.fake.s3.requests == []
    assert target.read_bytes() == before


def test_a_refused_submission_is_that_lines_error_and_a_bad_shared_option_stops_at_once(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """The service refusing a job (not an async endpoint) is recorded per line; a shared
    option the service would refuse stops the batch before anything is uploaded or sent."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": n}) for n in range(3)])
    target = tmp_path / "out.jsonl"
    assert main(_batch(str(source), str(target), endpoint="realtime")) == 1
    assert {r["error"]["type"] for r in _last(target).values()} == {"ValidationError"}
    server.fake.requests.clear()
    server.fake.s3.requests.clear()
    other = tmp_path / "other.jsonl"
    assert main(_batch(str(source), str(other), "--custom-attributes", "a\nb")) == 2
    assert _last(other) == {}
    assert server.fake.requests == [] and server.fake.s3.requests == []


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_when(command: list[str], env: dict[str, str], ready: Any, deadline: float) -> bool:
    """Run ``command``; SIGKILL it once ``ready()`` holds. True if it was killed mid-run."""
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    killed = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    return killed


@pytest.mark.slow
def test_killed_while_submitting_and_while_waiting_no_line_is_submitted_twice(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """SIGKILL the command again and again while it submits, then while it waits: no line is
    ever submitted twice (a line cut off mid-request is "unknown" and left alone), the waits
    resume only the lines not finished, and --resubmit-unknown submits exactly the unknown
    lines once more. At the end every line has exactly one final result, its own."""
    total = 300
    lines = [json.dumps({"n": n}) for n in range(100, 100 + total)]
    source = write_input(tmp_path / "in.jsonl", lines)
    target = tmp_path / "out.jsonl"
    fake = server.fake
    base = [sys.executable, "-m", "sagemaker_rt_async.cli", "batch", "square"]
    base += [str(source), str(target), "--async", "--upload-to", STAGING, "--quiet"]
    base += ["--concurrency", "8"]
    env = {**os.environ, **server.environ()}
    deadline = time.monotonic() + 120
    kills = 0
    for _ in range(4):  # killed while submitting
        before = _count_lines(target)
        kills += _kill_when(base, env, lambda b=before: _count_lines(target) >= b + 60, deadline)
    assert kills >= 3
    assert set(_submissions(fake).values()) == {1}, "a line was submitted twice"
    subprocess.run(base, env=env, cwd=ROOT, capture_output=True, timeout=120, check=False)
    assert set(_submissions(fake).values()) == {1}
    states = Counter(r["status"] for r in _last(target).values())
    assert states["submitted"] + states["submitting"] == total, states

    waiting = [*base, "--wait", "--poll-interval", "0.02"]
    kills = 0
    for _ in range(3):  # killed while waiting
        before = _count_lines(target)
        kills += _kill_when(waiting, env, lambda b=before: _count_lines(target) >= b + 40, deadline)
    assert kills >= 2
    finals = [r for r in read_output(target)[1] if r["status"] in ("ok", "error")]
    assert len(finals) == len({r["line"] for r in finals}), "a finished line was waited for again"
    unknown = {n for n, r in _last(target).items() if r["status"] == "submitting"}

    done = subprocess.run(
        [*waiting, "--resubmit-unknown"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    by_line = _last(target)
    assert set(by_line) == set(range(1, total + 1))
    for number, record in by_line.items():
        n = json.loads(lines[number - 1])["n"]
        assert record["status"] == "ok" and record["body"] == {"n": n * n}
    counts = _submissions(fake)
    twice = {int(i.rsplit("-", 1)[1]) for i, c in counts.items() if c == 2}
    assert set(counts.values()) <= {1, 2} and twice <= unknown
    assert len(counts) == total


def test_ctrl_c_while_waiting_says_how_to_resume_without_resubmitting(
    server: LoopbackServer[FakeSageMakerRuntime], tmp_path: Path
) -> None:
    """SIGINT (Ctrl-C) while the jobs run: exit 130, every job's record kept, and the message
    gives the exact command that resumes waiting; that command submits nothing again."""
    source = write_input(tmp_path / "in.jsonl", [json.dumps({"n": n}) for n in range(5)])
    target = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "sagemaker_rt_async.cli", "batch", "slow", str(source)]
    command += [str(target), "--async", "--upload-to", STAGING, "--wait", "--quiet"]
    env = {**os.environ, **server.environ()}
    proc = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while _count_lines(target) < 1 + 2 * 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # the header, then "submitting" and "submitted" for each line
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    assert {r["status"] for r in _last(target).values()} == {"submitted"}
    resume = err.split("interrupted: resume (nothing is submitted again): ")[1].splitlines()[0]
    import shlex

    words = shlex.split(resume)
    assert words[0] == "sagemaker-rt" and words[1:] == command[3:]
    assert main([*words[1:], "--wait-timeout", "0.2"]) == EXIT_ASYNC_TIMEOUT
    assert sum(_submissions(server.fake).values()) == 5


def test_the_help_example_runs_against_the_demo_fake(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`batch --help`'s async example, as printed, against serve-fake's toy-summarizer: each
    document summarised, the empty one recorded as its job's failure (exit 1)."""
    from sagemaker_rt_async.cli import demo_fake

    assert main(["batch", "--help"]) == 0
    example = next(
        line.split(None, 1)[1]
        for line in capsys.readouterr().out.splitlines()
        if "--async" in line and line.startswith("  sagemaker-rt batch")
    )
    import shlex

    argv = shlex.split(example)
    assert argv[:4] == ["batch", "toy-summarizer", "docs.jsonl", "out.jsonl"]
    monkeypatch.chdir(tmp_path)
    documents = ["Async jobs write results to S3", "one two three four five six", ""]
    write_input(tmp_path / "docs.jsonl", [json.dumps({"document": d}) for d in documents])
    fake = demo_fake(processing_time=0.02)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with fake.serve() as srv:
        for name, value in srv.environ().items():
            monkeypatch.setenv(name, value)
        assert main([*argv, "--poll-interval", "0.02"]) == 1
    by_line = _last(tmp_path / "out.jsonl")
    assert by_line[1]["status"] == by_line[2]["status"] == "ok"
    assert by_line[3]["error"]["type"] == "AsyncInferenceFailure"
