"""The `sagemaker-rt` command, run in-process (`main([...])`) against the demo's models on loopback.

Every run goes through the real client and a real socket: the fake verifies the SigV4 signature
made from the environment's credentials, exactly as `sagemaker-rt serve-fake` does for a user.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from sagemaker_rt_async import (
    AsyncInferenceFailure,
    AsyncInferenceTimeout,
    CredentialsError,
    EventStreamProtocolError,
    InternalFailure,
    ModelError,
    ModelNotReadyException,
    ParamValidationError,
    RequestTimeout,
    S3Error,
    SageMakerRuntimeClient,
    SageMakerRuntimeError,
    ServiceError,
    ThrottlingError,
    TransportError,
    ValidationError,
)
from sagemaker_rt_async.cli import demo_fake, exit_code_for, main
from sagemaker_rt_async.demo import toy_summarizer
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    FakeSageMakerRuntime,
    Invocation,
    LoopbackServer,
    ModelResponse,
    ServiceFailure,
)

ROOT = Path(__file__).resolve().parents[1]
SECRET = TEST_CREDENTIALS.secret_access_key
_AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """What `serve-fake` serves (async results after 0.2 s), plus endpoints that fail on purpose."""
    fake = demo_fake(processing_time=0.2)

    def overloaded(invocation: Invocation) -> bytes:
        raise ServiceFailure(503, "ServiceUnavailable", "try again later")

    def throttled(invocation: Invocation) -> bytes:
        raise ServiceFailure(400, "ThrottlingException", "Rate exceeded")

    async def slow(invocation: Invocation) -> bytes:
        await anyio.sleep(1.0)
        return b"late"

    fake.add_endpoint(
        "slow-summarizer",
        toy_summarizer,
        async_output_path="s3://demo-results/summaries",
        async_failure_path="s3://demo-results/failures",
        processing_time=2.0,
    )

    def answering(answer: ModelResponse) -> Callable[[Invocation], ModelResponse]:
        return lambda invocation: answer

    for name, answer in _ANSWERS.items():
        fake.add_endpoint(name, answering(answer), async_output_path="s3://demo-results/answers")
    fake.add_endpoint("overloaded", overloaded)
    fake.add_endpoint("throttled", throttled)
    fake.add_endpoint("slow", slow)
    with fake.serve() as srv:
        yield srv


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The fake's credentials and region in the environment, nothing else from the machine."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_CREDENTIALS.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@dataclass
class Run:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


CLI = Callable[..., Run]


@pytest.fixture
def cli(
    server: LoopbackServer[FakeSageMakerRuntime],
    aws_env: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> CLI:
    """`cli(*argv, stdin=b"...")`: main() with --endpoint-url of the fake; never prints a secret."""

    def run(*argv: str, stdin: bytes | None = None, url: bool = True) -> Run:
        if stdin is not None:
            aws_env.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        extra = ["--endpoint-url", server.url, "--s3-endpoint-url", server.url] if url else []
        serving = bool(argv) and argv[0] == "serve-fake"
        code = main(list(argv) if serving else [*argv, *extra])
        captured = capsysbinary.readouterr()
        err = captured.err.decode("utf-8")
        # serve-fake prints the fake's own published test key on purpose (to be exported); a
        # client command never prints the secret it signs with.
        assert serving or (SECRET not in err and SECRET.encode() not in captured.out)
        assert "Traceback" not in err
        return Run(code, captured.out, err)

    return run


SENTIMENT = '{"inputs": "I love this library, it is fast"}'
POSITIVE = {"label": "POSITIVE", "score": 2, "tokens": 7}


# -- invoke ----------------------------------------------------------------------------------------


def test_invoke_literal_body_prints_the_model_answer(cli: CLI) -> None:
    """stdout gets the response body and, a JSON text, a final newline (in a pipe too); stderr
    nothing."""
    run = cli("invoke", "toy-sentiment", SENTIMENT)
    assert run.code == 0
    assert json.loads(run.out) == POSITIVE
    assert run.out.endswith(b"}\n")
    assert run.err == ""


# -- every command's output ends a line; bytes that are not text stay exact ------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff"
_ANSWERS = {
    "plain-text": ModelResponse(b"no newline", content_type="text/plain"),
    "text-with-newline": ModelResponse(b"one line\n", content_type="text/plain; charset=utf-8"),
    "ndjson": ModelResponse(b'{"a": 1}\n{"a": 2}', content_type="application/x-ndjson"),
    "png": ModelResponse(PNG, content_type="image/png"),
    "latin-1": ModelResponse("café".encode("latin-1"), content_type="text/plain; charset=latin-1"),
    "octet-utf8": ModelResponse(b"utf-8 but binary", content_type="application/octet-stream"),
}
TEXT = "text"  # stdout must end with a newline

# (argv, expected stdout: TEXT, or the exact bytes). "{job}" is the output location of a job
# submitted first; every argv gets the fake's --endpoint-url.
OUTPUTS: list[tuple[list[str], object]] = [
    (["invoke", "toy-sentiment", SENTIMENT], TEXT),
    (["invoke", "toy-sentiment", SENTIMENT, "--json"], TEXT),
    (["invoke", "plain-text", "x"], b"no newline\n"),
    (["invoke", "text-with-newline", "x"], b"one line\n"),
    (["invoke", "ndjson", "x"], b'{"a": 1}\n{"a": 2}\n'),
    (["invoke", "png", "x"], PNG),
    (["invoke", "latin-1", "x"], "café".encode("latin-1")),
    (["invoke", "octet-utf8", "x"], b"utf-8 but binary"),
    (["stream", "toy-llm", '{"inputs": "hi"}'], TEXT),
    (["stream", "toy-llm", '{"inputs": "hi"}', "--format", "raw"], TEXT),
    (["stream", "plain-text", "x", "--format", "raw"], b"no newline\n"),
    (["stream", "png", "x", "--format", "raw"], PNG),
    (["async", "toy-summarizer", '{"document": "a b"}'], TEXT),
    (["async", "toy-summarizer", '{"document": "a b"}', "--wait", "--poll-interval", "0.05"], TEXT),
    (["async", "plain-text", "x", "--wait", "--poll-interval", "0.05"], b"no newline\n"),
    (["async", "png", "x", "--wait", "--poll-interval", "0.05"], PNG),
    (["wait", "{job}", "--poll-interval", "0.05"], TEXT),
    (["chat", "toy-llm", "hello"], TEXT),
    (["chat", "toy-chat", "ping", "--inference-component", "small", "--no-stream"], TEXT),
    (["token"], TEXT),
    (["invoke", "--version"], b""),  # argparse: the subcommand has no --version: usage error
    (["invoke", "no-such-endpoint", "{}"], b""),  # an error: stdout stays empty
    (["invoke", "toy-sentiment", '{"broken": '], b""),  # refused before sending
    (["stream", "flaky-llm", "{}"], b"The answer is\n"),  # broken mid-way: what came, a line
    (["wait", "s3://demo-results/answers/none.out", "--wait-timeout", "0.1"], b""),
]


@pytest.mark.parametrize(
    ("argv", "expected"), OUTPUTS, ids=[" ".join(argv[:3])[:40] for argv, _ in OUTPUTS]
)
def test_every_command_ends_its_output_with_a_newline(
    cli: CLI, argv: list[str], expected: object
) -> None:
    """In a pipe, text on stdout (a UTF-8 answer of a text or JSON type, tokens, the job, a
    token) ends with a newline, added once; bytes that are not text (a binary type, not UTF-8)
    are written exactly; on error stdout is empty or holds what arrived, and stderr's message
    ends with a newline."""
    if "{job}" in argv:
        submitted = cli("async", "toy-summarizer", '{"document": "x y"}')
        argv = [json.loads(submitted.out)["output_location"] if a == "{job}" else a for a in argv]
    run = cli(*argv)
    if expected == TEXT:
        assert run.code == 0, run.err
        assert run.out.endswith(b"\n"), run.out  # added once: the exact rows check that
    else:
        assert run.out == expected
    assert run.err == "" or run.err.endswith("\n")
    if run.code != 0:
        assert run.err.startswith(("error:", "usage:")), run.err


@pytest.mark.parametrize(
    ("argv", "body"),
    [
        (["invoke", "toy-sentiment", SENTIMENT], json.dumps(POSITIVE).encode()),
        (["invoke", "plain-text", "x"], b"no newline"),
        (["invoke", "png", "x"], PNG),
        (["async", "plain-text", "x", "--wait", "--poll-interval", "0.05"], b"no newline"),
        (["wait", "{job}", "--poll-interval", "0.05"], b"no newline"),
        (["stream", "plain-text", "x"], b"no newline"),
        (["stream", "png", "x", "--format", "tgi"], PNG),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else None,
)
def test_output_file_gets_the_exact_bytes(cli: CLI, argv: list[str], body: bytes) -> None:
    """-o FILE: the model's exact bytes in FILE (no newline added, any --format ignored),
    nothing on stdout; -v tells where they went on stderr."""
    if "{job}" in argv:
        submitted = cli("async", "plain-text", "x")
        argv = [json.loads(submitted.out)["output_location"] if a == "{job}" else a for a in argv]
    run = cli(*argv, "-o", "answer.out", "-v")
    assert run.code == 0, run.err
    assert run.out == b""
    assert Path("answer.out").read_bytes() == body
    assert f"Written: {len(body)} bytes to answer.out" in run.err
    assert not list(Path().glob(".*.partial"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invoke", "toy-sentiment", SENTIMENT, "--json"], "does not go with --json"),
        (["async", "toy-summarizer", "{}"], "needs --wait"),
        (["invoke", "toy-sentiment", SENTIMENT], "cannot write in"),
    ],
)
def test_output_file_refused_before_sending(
    cli: CLI, server: LoopbackServer[FakeSageMakerRuntime], argv: list[str], message: str
) -> None:
    """-o with --json, -o on `async` without --wait, or FILE in a missing directory: a usage
    error before anything is sent, and FILE is not created."""
    target = "missing-dir/answer.out" if message == "cannot write in" else "answer.out"
    before = len(server.fake.requests)
    run = cli(*argv, "-o", target)
    assert run.code == 2 and message in run.err and run.err.endswith("\n")
    assert run.out == b"" and not Path(target).exists()
    assert len(server.fake.requests) == before


def test_stream_output_file_untouched_when_the_stream_breaks(cli: CLI) -> None:
    """A stream that breaks mid-way leaves FILE as it was (the whole body or nothing)."""
    Path("answer.out").write_bytes(b"previous")
    run = cli("stream", "flaky-llm", "{}", "-o", "answer.out")
    assert run.code == 7
    assert Path("answer.out").read_bytes() == b"previous"
    assert not list(Path().glob(".*.partial"))


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        pytest.param(["@request.json"], None, id="@file"),
        pytest.param([], SENTIMENT.encode(), id="stdin-implicit"),
        pytest.param(["-"], SENTIMENT.encode(), id="stdin-dash"),
    ],
)
def test_invoke_body_sources(cli: CLI, argv: list[str], stdin: bytes | None) -> None:
    """BODY as @FILE (the file's bytes), piped stdin, or `-` all send the same request."""
    Path("request.json").write_text(SENTIMENT)
    run = cli("invoke", "toy-sentiment", *argv, stdin=stdin)
    assert (run.code, json.loads(run.out)) == (0, POSITIVE)


def test_invoke_json_pretty_prints(cli: CLI) -> None:
    """--json: indented JSON and a final newline."""
    run = cli("invoke", "toy-sentiment", SENTIMENT, "--json")
    assert run.code == 0
    assert run.text == json.dumps(POSITIVE, indent=2) + "\n"


def test_invoke_verbose_shows_members_on_stderr(cli: CLI) -> None:
    """-v: response members and the request id on stderr; stdout still only the body."""
    run = cli("invoke", "-v", "toy-sentiment", "--accept", "application/json", SENTIMENT)
    assert run.code == 0 and json.loads(run.out) == POSITIVE
    for expected in (
        "ContentType sent: application/json (the body is JSON",
        "ContentType: application/json",
        "InvokedProductionVariant: variant-a",
        "CustomAttributes: model=toy-sentiment-v1,accept=application/json",
        "Elapsed: ",
    ):
        assert expected in run.err
    assert re.search(r"^RequestId: [0-9a-f-]{36}$", run.err, re.M)


def test_endpoint_url_from_the_environment(
    cli: CLI, server: LoopbackServer[FakeSageMakerRuntime], aws_env: pytest.MonkeyPatch
) -> None:
    """AWS_ENDPOINT_URL (what serve-fake tells you to export) stands in for --endpoint-url."""
    aws_env.setenv("AWS_ENDPOINT_URL", server.url)
    run = cli("invoke", "toy-sentiment", SENTIMENT, url=False)
    assert (run.code, json.loads(run.out)) == (0, POSITIVE)


# -- stream ----------------------------------------------------------------------------------------

LLM_BODY = '{"inputs": "tell me", "parameters": {"max_new_tokens": 5}}'


def test_stream_raw_prints_the_parts_bytes(cli: CLI) -> None:
    """--format raw: the PayloadPart bytes, unchanged: here the model's TGI server-sent events."""
    run = cli("stream", "toy-llm", LLM_BODY, "--format", "raw")
    assert run.code == 0
    assert run.out.startswith(b'data:{"token": {"id": 0, "text": "Once"')
    assert b'"finish_reason": "length"' in run.out and run.out.endswith(b"\n\n")


@pytest.mark.parametrize("fmt", ["tgi", "auto"])
def test_stream_tokens_as_text_with_stats(cli: CLI, fmt: str) -> None:
    """Token formats print the generated text; -v adds parts, time to first token, finish."""
    run = cli("stream", "toy-llm", LLM_BODY, "--format", fmt, "-v")
    assert run.code == 0
    assert run.text == "Once upon a time, a\n"
    for expected in ("Parts: ", "TimeToFirstToken: ", "FinishReason: length", "RequestId: "):
        assert expected in run.err


def test_stream_prints_each_token_as_it_arrives(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens reach stdout one by one while the model is still writing, not at the end."""
    from sagemaker_rt_async import cli as cli_module

    writes: list[float] = []
    original = cli_module._Stdout.write

    def timed(self: cli_module._Stdout, data: bytes, *, text: bool = False) -> None:
        writes.append(time.perf_counter())
        original(self, data, text=text)

    monkeypatch.setattr(cli_module._Stdout, "write", timed)
    run = cli("stream", "toy-llm", '{"inputs": "x", "parameters": {"max_new_tokens": 8}}')
    assert run.code == 0 and run.text.count(" ") == 7
    assert len(writes) >= 8
    # The toy model sleeps 30 ms between tokens: buffered output would arrive in one burst.
    assert writes[-1] - writes[0] > 0.1


def test_stream_broken_mid_way_keeps_the_output_and_exits_7(cli: CLI) -> None:
    """The parts before a ModelStreamError are printed; the error names how far it got."""
    run = cli("stream", "flaky-llm", "{}")
    assert run.code == 7
    assert run.text == "The answer is\n"
    assert run.err.startswith("error: ModelStreamError: ModelInvocationTimeExceeded: ")
    assert "after 3 parts (13 bytes)" in run.err


# -- async -----------------------------------------------------------------------------------------


def test_async_submit_prints_the_job(cli: CLI) -> None:
    """Without --wait: the job as JSON on stdout."""
    run = cli("async", "toy-summarizer", '{"document": "a b c"}', "--inference-id", "job-1")
    assert run.code == 0
    job = json.loads(run.out)
    assert job["inference_id"] == "job-1"
    assert job["output_location"] == "s3://demo-results/summaries/job-1.out"
    assert job["failure_location"] == "s3://demo-results/failures/job-1-error.out"
    assert job["request_id"]


def test_async_wait_prints_the_result(cli: CLI) -> None:
    """--wait: the job goes to stderr, the output (pretty with --json) to stdout."""
    doc = '{"document": "one two three four five six seven eight"}'
    run = cli("async", "toy-summarizer", doc, "--wait", "--json", "--poll-interval", "0.05")
    assert run.code == 0
    assert json.loads(run.out) == {"summary": "one two three four five six …", "words": 8}
    assert '"output_location": "s3://demo-results/summaries/' in run.err


def test_async_large_body_is_uploaded_first(cli: CLI) -> None:
    """A body over the 128,000-byte inline limit goes through --upload-to, then by location."""
    Path("document.json").write_text(json.dumps({"document": "word " * 40_000}))
    run = cli(
        "async",
        "toy-summarizer",
        "@document.json",
        "--upload-to",
        "s3://demo-inputs/staging/",
        "--wait",
        "--poll-interval",
        "0.05",
    )
    assert run.code == 0
    assert json.loads(run.out)["words"] == 40_000


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(
            ['{"document": ""}'],
            7,
            'error: AsyncInferenceFailure: async inference {id} failed: {{"statusCode": 400, '
            '"message": "empty document"}}',
            id="the-job-fails",
        ),
        pytest.param(
            ["--input-location", "s3://demo-inputs/missing.json"],
            7,
            "could not read the input s3://demo-inputs/missing.json",
            id="input-location-missing",
        ),
        pytest.param(
            ['{"document": "x"}', "--wait-timeout", "0.01"],
            8,
            "hint: the job may still finish: its output will appear at "
            "s3://demo-results/summaries/{id}.out",
            id="wait-timeout",
        ),
    ],
)
def test_async_wait_failures(cli: CLI, argv: list[str], code: int, message: str) -> None:
    """A failure object -> exit 7 with its payload; no result in time -> exit 8 with a hint."""
    job_id = f"job-{uuid.uuid4()}"  # the fake's S3 outlives a test: ids must not repeat
    run = cli(
        "async", "toy-summarizer", *argv, "--inference-id", job_id, "--wait", "--poll-interval",
        "0.05",
    )  # fmt: skip
    assert run.code == code
    assert message.format(id=job_id) in run.err


_RESUME = "hint: resume waiting (nothing is submitted again): "


def _submissions(server: LoopbackServer[FakeSageMakerRuntime], job_id: str) -> int:
    return sum(
        1
        for r in server.fake.requests
        if r.path.endswith("/async-invocations")
        and r.header("X-Amzn-SageMaker-Inference-Id") == job_id
    )


def test_async_timeout_prints_the_wait_command_that_resumes(
    cli: CLI, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """On --wait-timeout the hint is the exact `sagemaker-rt wait` command; running it (another
    client) prints the output, and the job was submitted once."""
    job_id = f"job-{uuid.uuid4()}"
    run = cli(
        "async", "slow-summarizer", '{"document": "a b c"}', "--inference-id", job_id,
        "--wait", "--wait-timeout", "0.05", "--poll-interval", "0.02",
    )  # fmt: skip
    assert run.code == 8
    assert "to resume waiting later: sagemaker-rt wait s3://demo-results/summaries/" in run.err
    assert "--wait-timeout" not in run.err.split("error:")[1]  # no hint to run async again
    resume = [line for line in run.err.splitlines() if line.startswith(_RESUME)]
    assert len(resume) == 1
    argv = shlex.split(resume[0].removeprefix(_RESUME))
    assert argv[:3] == ["sagemaker-rt", "wait", f"s3://demo-results/summaries/{job_id}.out"]
    assert f"s3://demo-results/failures/{job_id}-error.out" in argv
    done = cli(*argv[1:], "--json", url=False)
    assert done.code == 0, done.err
    assert json.loads(done.out)["words"] == 3
    assert done.out.endswith(b"\n")
    assert _submissions(server, job_id) == 1


def test_wait_reports_a_failed_job(cli: CLI) -> None:
    """`wait` on a job whose failure object appears: exit 7 with its payload."""
    job_id = f"job-{uuid.uuid4()}"
    submitted = cli("async", "toy-summarizer", '{"document": ""}', "--inference-id", job_id)
    assert submitted.code == 0
    job = json.loads(submitted.out)
    run = cli(
        "wait", job["output_location"], "--failure-location", job["failure_location"],
        "--poll-interval", "0.02",
    )  # fmt: skip
    assert run.code == 7
    assert "empty document" in run.err


def test_wait_refuses_a_location_that_is_not_s3(cli: CLI) -> None:
    """A bad OUTPUT_LOCATION is a usage error naming it, before any request."""
    run = cli("wait", "http://example.com/x")
    assert run.code == 2
    assert "output_location" in run.err or "OUTPUT_LOCATION" in run.err


def test_ctrl_c_while_waiting_prints_the_wait_command(
    server: LoopbackServer[FakeSageMakerRuntime], aws_env: pytest.MonkeyPatch, cli: CLI
) -> None:
    """Ctrl-C during `async --wait` (a real process, a real SIGINT): exit 130 and the exact
    `sagemaker-rt wait` command, which then finds the output without a second submission."""
    import signal

    job_id = f"job-{uuid.uuid4()}"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "sagemaker_rt_async.cli", "async", "slow-summarizer",
            '{"document": "x y"}', "--inference-id", job_id, "--wait", "--poll-interval", "0.05",
            "--endpoint-url", server.url, "--s3-endpoint-url", server.url,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("to resume waiting later:"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 130, "".join(seen) + err
    assert err.startswith("interrupted\n")
    assert "the job was submitted and keeps running" in err
    resume = [line for line in err.splitlines() if line.startswith(_RESUME)]
    argv = shlex.split(resume[0].removeprefix(_RESUME))
    done = cli(*argv[1:], "--poll-interval", "0.05", url=False)
    assert done.code == 0, done.err
    assert json.loads(done.out)["words"] == 2
    assert _submissions(server, job_id) == 1


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        pytest.param(
            ["invoke", "no-such-endpoint", "{}"],
            4,
            ["error: ValidationError (HTTP 400, request_id=", "hint: check the endpoint name"],
            id="unknown-endpoint",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", '["not", "a", "dict"]'],
            4,
            ["error: ModelError (HTTP 424, request_id=", "  model status: 400", "hint: "],
            id="model-error",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", "not json"],
            4,
            ["error: ModelError (HTTP 424", "cannot parse the request: JSONDecodeError"],
            id="body-the-model-cannot-parse",
        ),
        pytest.param(
            ["stream", "toy-llm", "[1, 2]"],
            4,
            ["error: ModelError (HTTP 424", "cannot parse the request: AttributeError"],
            id="stream-refused-before-it-starts",
        ),
        pytest.param(
            ["invoke", "bad_name", "{}"],
            2,
            ["error: ParamValidationError: ENDPOINT: 'bad_name' is not a valid name"],
            id="bad-endpoint-name",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", "{}", "--session-id", "bad id"],
            2,
            ["error: ParamValidationError: --session-id: "],
            id="bad-member-names-the-flag",
        ),
        pytest.param(
            ["async", "toy-summarizer", "{}", "--request-ttl-seconds", "5"],
            2,
            ["--request-ttl-seconds: must be between 60 and 21600, got 5"],
            id="out-of-range-member",
        ),
        pytest.param(
            ["invoke", "overloaded", "{}", "--retries", "0"],
            5,
            ["error: ServiceUnavailable (HTTP 503", "hint: gave up after 1 attempt: "],
            id="service-5xx",
        ),
        pytest.param(
            ["invoke", "throttled", "{}", "--retries", "2"],
            5,
            ["error: ThrottlingException (HTTP 400", "gave up after 2 attempts"],
            id="throttled",
        ),
        pytest.param(
            ["invoke", "slow", "{}", "--timeout", "0.2", "--retries", "0"],
            6,
            ["error: RequestTimeout: ", "hint: the first_byte deadline passed: raise --timeout"],
            id="request-timeout",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", "@missing.json"],
            2,
            ["error: cannot read @missing.json: No such file or directory"],
            id="missing-file",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", "--no-such-flag"],
            2,
            ["unrecognized arguments: --no-such-flag"],
            id="unknown-flag",
        ),
        pytest.param(
            ["stream", "toy-llm", "{}", "--format", "xml"],
            2,
            ["argument --format: invalid choice: 'xml'"],
            id="unknown-format",
        ),
        pytest.param(
            ["invoke", "toy-sentiment", "{}", "--retries", "-1"],
            2,
            ["argument --retries: '-1' must be 0 or more"],
            id="negative-retries",
        ),
    ],
)
def test_errors_map_to_exit_codes(
    cli: CLI, argv: list[str], code: int, expected: list[str]
) -> None:
    """Each typed error: its exit code, one readable line first, hints after, no traceback."""
    run = cli(*argv)
    assert run.code == code, run.err
    assert run.out == b""
    for text in expected:
        assert text in run.err
    assert run.err.startswith(("error: ", "usage: "))


def test_no_body_is_a_usage_error(cli: CLI) -> None:
    """No BODY and an empty stdin: refused before anything is sent, with the usage hint."""
    run = cli("invoke", "toy-sentiment", stdin=b"")
    assert run.code == 2
    assert "error: no request body: pass BODY, @FILE, or pipe it to stdin" in run.err


def test_no_credentials_exit_3_with_a_hint(cli: CLI, aws_env: pytest.MonkeyPatch) -> None:
    """No credentials anywhere: exit 3, the sources tried, and how to provide some."""
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    run = cli("invoke", "toy-sentiment", SENTIMENT)
    assert run.code == 3
    assert run.err.startswith("error: CredentialsError: no AWS credentials found")
    assert "hint: set AWS_PROFILE or pass --profile" in run.err


def test_wrong_secret_is_rejected_without_printing_it(
    cli: CLI, aws_env: pytest.MonkeyPatch
) -> None:
    """A signature the service rejects: exit 4 with a hint; neither secret is ever printed."""
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret-0000000000000000000")
    run = cli("invoke", "toy-sentiment", SENTIMENT)
    assert run.code == 4
    assert "error: InvalidSignatureException (HTTP 403" in run.err
    assert "not-the-right-secret" not in run.err


def test_connection_refused_exit_6(cli: CLI) -> None:
    """Nothing listening: exit 6 and a hint naming the URL and serve-fake."""
    with socket.socket() as sock:  # a port that was free a moment ago, now closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    run = cli("invoke", "toy-sentiment", "{}", "--retries", "0", "--endpoint-url", url, url=False)
    assert run.code == 6
    assert run.err.startswith("error: TransportError: ")
    assert f"hint: is anything listening at {url}?" in run.err


def test_region_is_required_with_an_endpoint_url(cli: CLI, aws_env: pytest.MonkeyPatch) -> None:
    """No region anywhere: the error names --region and says how to set it."""
    aws_env.delenv("AWS_REGION")
    run = cli("invoke", "toy-sentiment", "{}")
    assert run.code == 2
    assert "error: ParamValidationError: --region: " in run.err
    assert "hint: pass --region or set AWS_REGION" in run.err


def test_ctrl_c_exits_130(cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C during a call: "interrupted", exit 130, no traceback."""

    async def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SageMakerRuntimeClient, "invoke_endpoint", interrupted)
    run = cli("invoke", "toy-sentiment", "{}")
    assert (run.code, run.err) == (130, "interrupted\n")


def _job() -> object:
    return object()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ParamValidationError("body", "bad"), 2),
        (CredentialsError("none"), 3),
        (ValidationError("x", status_code=400, error_code="ValidationError"), 4),
        (ModelError("x", status_code=424, error_code="ModelError"), 4),
        (S3Error("x", status_code=403, error_code="AccessDenied", bucket="b", key="k"), 4),
        (ThrottlingError("x", status_code=400, error_code="ThrottlingException"), 5),
        (ModelNotReadyException("x", status_code=429, error_code="ModelNotReadyException"), 5),
        (InternalFailure("x", status_code=500, error_code="InternalFailure"), 5),
        (ServiceError("x", status_code=530, error_code="InternalDependencyException"), 5),
        (TransportError("x"), 6),
        (RequestTimeout("x", timeout="connect"), 6),
        (EventStreamProtocolError("x"), 7),
        (AsyncInferenceFailure("x", job=_job(), payload=b"", content_type=None), 7),
        (AsyncInferenceTimeout("x", job=_job(), waited=1.0), 8),
        (SageMakerRuntimeError("x"), 1),
        (KeyboardInterrupt(), 130),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_exit_code_table(exc: BaseException, code: int) -> None:
    """The documented exit codes, class by class (client 4xx vs. retryable/5xx)."""
    assert exit_code_for(exc) == code


# -- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["invoke", "stream", "async", "chat", "token", "serve-fake"])
def test_each_command_help_exits_0_with_examples(cli: CLI, command: str) -> None:
    """`COMMAND --help` exits 0 and shows examples of that command."""
    run = cli(command, "--help", url=False)
    assert run.code == 0
    assert "examples" in run.text
    assert f"  sagemaker-rt {command} " in run.text


def test_main_help_documents_exit_codes(cli: CLI) -> None:
    """The top-level help lists every exit code and how to start with serve-fake."""
    run = cli("--help", url=False)
    assert run.code == 0
    assert "sagemaker-rt serve-fake" in run.text
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "130"):
        assert re.search(rf"^  {code} +\S", run.text, re.M), code


def _examples(help_text: str) -> list[tuple[list[str], bytes | None, int]]:
    """(argv, stdin, expected exit code) of each example line of a --help text."""
    examples = []
    for line in help_text.splitlines():
        if not line.startswith(("  sagemaker-rt ", "  echo ")):
            continue
        words = shlex.split(line, comments=True)
        stdin = None
        if words[0] == "echo":
            bar = words.index("|")
            stdin, words = " ".join(words[1:bar]).encode() + b"\n", words[bar + 1 :]
        expected = re.search(r"exit (\d+)", line.partition("#")[2])
        examples.append((words[1:], stdin, int(expected[1]) if expected else 0))
    return examples


@pytest.mark.parametrize("command", ["invoke", "stream", "async", "chat", "token"])
def test_help_examples_work_against_the_fake(
    cli: CLI,
    server: LoopbackServer[FakeSageMakerRuntime],
    aws_env: pytest.MonkeyPatch,
    command: str,
) -> None:
    """Every example in the help runs against serve-fake's models with its documented code."""
    aws_env.setenv("AWS_ENDPOINT_URL", server.url)  # as serve-fake tells you to export
    Path("request.json").write_text('{"inputs": "nice and fast"}')
    Path("document.json").write_text(json.dumps({"document": "word " * 40_000}))
    Path("question.txt").write_text("why is the sky blue?")
    examples = _examples(cli(command, "--help", url=False).text)
    assert len(examples) >= (2 if command == "token" else 4)
    for argv, stdin, code in examples:
        run = cli(*argv, stdin=stdin, url=False)
        assert run.code == code, (argv, run.err)


# -- chat and token (the OpenAI-compatible route) -------------------------------------------------


def test_chat_streams_the_answer_with_stats(cli: CLI) -> None:
    """`chat` sends one user message (and --system) and prints the streamed text; -v: stats."""
    run = cli("chat", "toy-llm", "hello", "--system", "be brief", "--max-tokens", "9", "-v")
    assert run.code == 0, run.err
    assert run.text.startswith("Once upon a time, a client waited")
    assert run.text.endswith("for everyone.\n")
    assert "FinishReason: stop" in run.err
    assert "TimeToFirstToken:" in run.err


def test_chat_through_a_component_whole_or_streamed(cli: CLI) -> None:
    """--inference-component goes in the path; LMI JSON lines stream too; --no-stream."""
    streamed = cli("chat", "toy-chat", "ping", "--inference-component", "small")
    assert streamed.code == 0, streamed.err
    assert streamed.text == "You said: ping\n"
    whole = cli("chat", "toy-chat", "ping", "--inference-component", "small", "--no-stream")
    assert whole.text == "You said: ping\n"


def test_chat_with_a_container_that_does_not_speak_it(cli: CLI) -> None:
    """A non-chat container: exit 4 and a hint saying so, pointing at invoke/stream."""
    run = cli("chat", "toy-sentiment", "hello")
    assert run.code == 4
    assert "ModelError" in run.err or "model_error" in run.err
    assert "may not speak the OpenAI API" in run.err
    missing = cli("chat", "no-such-endpoint", "hello")
    assert missing.code == 4
    assert "not found" in missing.err


def test_token_prints_a_token_the_service_accepts(cli: CLI) -> None:
    """`token` prints one line: a token the fake verifies; a bad lifetime is a usage error."""
    from sagemaker_rt_async._bearer import TokenClaims, verify_token

    run = cli("token", "--expires-in", "900", "-v")
    assert run.code == 0, run.err
    token = run.text.strip()
    claims = verify_token(token, credentials=TEST_CREDENTIALS, region="us-east-1", now=time.time())
    assert isinstance(claims, TokenClaims)
    assert claims.expires_in == 900
    assert "expires:" in run.err and token not in run.err
    bad = cli("token", "--expires-in", "43201")
    assert bad.code == 2
    assert "--expires-in" in bad.err


# -- serve-fake ------------------------------------------------------------------------------------


def test_serve_fake_for_a_while_then_stops(cli: CLI) -> None:
    """`serve-fake --for 0.5` prints its URL, credentials to export and examples, then stops."""
    start = time.perf_counter()
    run = cli("serve-fake", "--port", "0", "--for", "0.5", url=False)
    assert run.code == 0
    assert 0.5 <= time.perf_counter() - start < 5
    assert re.search(r"listening on http://127\.0\.0\.1:\d+ ", run.text)
    assert (
        f"export AWS_ACCESS_KEY_ID={TEST_CREDENTIALS.access_key_id} AWS_SECRET_ACCESS_KEY={SECRET}"
        in run.text
    )
    assert "sagemaker-rt invoke toy-sentiment" in run.text
    assert run.err.startswith("stopped;")


def test_serve_fake_banner_instructions_work(
    aws_env: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Exporting what serve-fake prints is enough for the example it prints to succeed."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        aws_env.delenv(var)
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(main(["serve-fake", "--port", "0", "--for", "1.5"]))
    )
    thread.start()
    try:
        banner = ""
        deadline = time.monotonic() + 5
        while "Stopping after" not in banner and time.monotonic() < deadline:
            time.sleep(0.02)
            banner += capsysbinary.readouterr().out.decode()
        for line in banner.splitlines():
            if line.startswith("  export "):
                for pair in shlex.split(line)[1:]:
                    aws_env.setenv(*pair.split("=", 1))
        example = next(line for line in banner.splitlines() if "sagemaker-rt invoke" in line)
        assert main(shlex.split(example)[1:]) == 0
        out = capsysbinary.readouterr().out
        assert json.loads(out)["label"] == "POSITIVE"
    finally:
        thread.join(10)
    assert codes == [0]


def _serve_in_thread(
    argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> tuple[threading.Thread, list[int], str]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv)))
    thread.start()
    banner = ""
    deadline = time.monotonic() + 5
    while "Stopping after" not in banner and time.monotonic() < deadline:
        time.sleep(0.02)
        banner += capsysbinary.readouterr().out.decode()
    return thread, codes, banner


@pytest.mark.parametrize(("flags", "code"), [([], 0), (["--verify-signatures"], 4)])
def test_serve_fake_accepts_any_well_formed_credentials_unless_told(
    aws_env: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
    flags: list[str],
    code: int,
) -> None:
    """A user's own AWS credentials (not the fake's keys) work against `serve-fake`, as with
    moto and LocalStack; `--verify-signatures` checks them against the printed keys (403)."""
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7USERKEY")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "a-users-own-secret-key")
    aws_env.setenv("AWS_SESSION_TOKEN", "a-users-session-token")
    thread, codes, banner = _serve_in_thread(
        ["serve-fake", "--port", "0", "--for", "1.5", *flags], capsysbinary
    )
    try:
        url = re.search(r"listening on (http://\S+) ", banner)
        assert url is not None
        assert ("any well-formed SigV4 credentials accepted" in banner) is (not flags)
        argv = ["invoke", "toy-sentiment", SENTIMENT, "--endpoint-url", url.group(1)]
        assert main(argv) == code
        captured = capsysbinary.readouterr()
        if code == 0:
            assert json.loads(captured.out)["label"] == "POSITIVE"
        else:
            assert "UnrecognizedClientException" in captured.err.decode()
        async_argv = [
            "async", "toy-summarizer", '{"document": "a b"}', "--wait", "--poll-interval",
            "0.05", "--wait-timeout", "10", "--endpoint-url", url.group(1),
            "--s3-endpoint-url", url.group(1),
        ]  # fmt: skip
        if code == 0:  # S3 (the async result) takes the user's credentials too
            assert main(async_argv) == 0
            assert json.loads(capsysbinary.readouterr().out)["words"] == 2
    finally:
        thread.join(10)
    assert codes == [0]


def test_stream_of_a_model_that_does_not_stream(cli: CLI) -> None:
    """`stream toy-sentiment`: the whole answer arrives as one part, as the service relays a
    container that does not stream; never a Python error text."""
    run = cli("stream", "toy-sentiment", SENTIMENT, "--format", "raw")
    assert run.code == 0, run.err
    assert json.loads(run.out) == POSITIVE
    auto = cli("stream", "toy-sentiment", SENTIMENT)
    assert "TypeError" not in auto.err and "object is not iterable" not in auto.err


def test_serve_fake_refuses_a_public_host(cli: CLI) -> None:
    """A non-loopback --host needs --allow-remote (the fake's credentials are public)."""
    run = cli("serve-fake", "--host", "192.0.2.10", "--for", "0.1", url=False)  # TEST-NET-1
    assert run.code == 2
    assert "is not a loopback address" in run.err and "--allow-remote" in run.err


def test_serve_fake_port_in_use_exits_1(cli: CLI) -> None:
    """A port already taken: one error line and a hint, exit 1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = str(sock.getsockname()[1])
        run = cli("serve-fake", "--port", port, "--for", "0.1", url=False)
    assert run.code == 1
    assert run.err.startswith(f"error: cannot serve on 127.0.0.1:{port}: ")


def test_module_runs_as_a_script() -> None:
    """`python -m sagemaker_rt_async.cli --help` works (warnings are errors) and exits 0."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "sagemaker_rt_async.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: sagemaker-rt ")
    assert "exit codes:" in done.stdout


# -- the terminal never surprises --------------------------------------------------------------


def test_broken_json_is_refused_with_where_it_breaks(
    cli: CLI, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """A body that looks like JSON but does not parse: exit 2 naming the line and column, and
    nothing sent; --raw sends it as it is."""
    before = len(server.fake.requests)
    body = '{"inputs": "x",}'
    # Where the interpreter's own parser says it breaks (3.13 points at the comma, older
    # versions after it): the CLI reports json's position, whatever the version.
    with pytest.raises(json.JSONDecodeError) as broken:
        json.loads(body)
    run = cli("invoke", "toy-sentiment", body)
    assert run.code == 2
    assert "BODY looks like JSON but does not parse" in run.err
    where = f"line {broken.value.lineno} column {broken.value.colno}"
    assert where in run.err and "--raw" in run.err
    assert len(server.fake.requests) == before
    raw = cli("invoke", "toy-sentiment", '{"inputs": "x",}', "--raw")
    assert raw.code == 4  # sent: the toy model refuses it as a container would
    assert len(server.fake.requests) == before + 1


def test_a_misspelled_option_shows_the_subcommands_usage(cli: CLI) -> None:
    """`invoke EP --jsn`: the invoke usage line, not the top-level one."""
    run = cli("invoke", "toy-sentiment", "{}", "--jsn")
    assert run.code == 2
    assert run.err.startswith("usage: sagemaker-rt invoke ")
    assert "unrecognized arguments: --jsn" in run.err


def test_retries_means_attempts_and_defaults_to_the_environment(
    cli: CLI, aws_env: pytest.MonkeyPatch
) -> None:
    """--retries N is retry=N of the library (attempts in all); without it AWS_MAX_ATTEMPTS."""
    aws_env.setenv("AWS_MAX_ATTEMPTS", "4")
    run = cli("invoke", "throttled", "{}")
    assert "gave up after 4 attempts" in run.err
    run = cli("invoke", "throttled", "{}", "--retries", "1")
    assert "gave up after 1 attempt:" in run.err


def test_messages_speak_flags_not_python(cli: CLI, aws_env: pytest.MonkeyPatch) -> None:
    """No region anywhere: the message names --region, never region=."""
    aws_env.delenv("AWS_REGION")
    run = cli("invoke", "toy-sentiment", "{}")
    assert run.code == 2
    assert "--region" in run.err and "region=" not in run.err


def test_a_body_over_the_inline_limit_hints_upload_to(cli: CLI) -> None:
    """An async body over 128,000 bytes without --upload-to: the hint names --upload-to."""
    Path("big.json").write_text(json.dumps({"document": "word " * 30_000}))
    run = cli("async", "toy-summarizer", "@big.json")
    assert run.code == 2
    assert "hint: pass --upload-to s3://bucket/prefix/" in run.err
