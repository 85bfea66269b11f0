"""The examples in examples/ run end to end against the fake endpoint and do what they document.

The web apps run on real servers on 127.0.0.1 (uvicorn in a thread, aiohttp's runner in the
test's loop) with the AWS environment pointing at ``sagemaker_server``, so each app takes its
production code path (``SageMakerRuntimeClient()`` reading the environment). The scripts run as
subprocesses (``sys.executable -W error``), the notebook's cells in one namespace with top-level
await. Every wait is bounded; every server, thread and process is stopped.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trio
import uvicorn
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from anyio.streams.text import TextReceiveStream
from starlette.requests import Request

from sagemaker_rt_async import (
    CredentialsError,
    InternalFailure,
    ModelError,
    ModelNotReadyException,
    ModelStreamError,
    ParamValidationError,
    RequestTimeout,
    SageMakerRuntimeClient,
    SageMakerRuntimeError,
    ServiceUnavailable,
    ThrottlingError,
    TransportError,
    ValidationError,
)
from sagemaker_rt_async.testing import (
    FakeSageMakerRuntime,
    InternalStreamFault,
    Invocation,
    LoopbackServer,
    ModelFailure,
    ModelResponse,
    ModelStream,
    ModelStreamFailure,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))  # the examples are scripts, not a package

import aiohttp_sse  # noqa: E402
import fastapi_sse  # noqa: E402
import trio_stream  # noqa: E402

pytestmark = pytest.mark.anyio

WAIT_S = 10.0  # the bound on every wait below; the happy paths take well under a second
WORDS = ["Once", " upon", " a", " time,", " a", " café", " ☕", " appeared."]
SSE_FRAME = re.compile(r"(?:event: (?P<event>[a-z]+)\n)?data: (?P<data>[^\n]+)")


@pytest.fixture
def anyio_backend() -> str:
    """asyncio: the web apps and the notebook are asyncio code (the trio test says so itself)."""
    return "asyncio"


# -- the fake model ------------------------------------------------------------------------------


class Model:
    """A TGI-style streaming LLM for the fake, recording how far each stream got."""

    def __init__(
        self, words: list[str], *, delay: float = 0.0, fail: Exception | None = None
    ) -> None:
        self.words = words
        self.delay = delay
        self.fail = fail
        self.yielded = 0
        self.closed = threading.Event()  # set when a stream's generator ends, however it ends

    def __call__(self, invocation: Invocation) -> ModelStream:
        """Answer with TGI's SSE events, each cut in two parts (mid-JSON, mid-character)."""

        async def parts() -> AsyncIterator[bytes]:
            try:
                for i, word in enumerate(self.words):
                    await anyio.sleep(self.delay)
                    event: dict[str, Any] = {"token": {"id": i, "text": word, "special": False}}
                    if i == len(self.words) - 1:
                        event["details"] = {"finish_reason": "length"}
                    wire = f"data:{json.dumps(event, ensure_ascii=False)}\n\n".encode()
                    self.yielded += 1
                    yield wire[: len(wire) // 2 + 1]
                    yield wire[len(wire) // 2 + 1 :]
                end = {"token": {"id": len(self.words), "text": "</s>", "special": True}}
                yield f"data:{json.dumps(end)}\n\n".encode()
                if self.fail is not None:
                    raise self.fail
            finally:
                self.closed.set()

        return ModelStream(parts(), content_type="text/event-stream")


@pytest.fixture
def fake_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sagemaker_fake: FakeSageMakerRuntime,
    sagemaker_server: LoopbackServer[FakeSageMakerRuntime],
) -> FakeSageMakerRuntime:
    """The plugin's fake on 127.0.0.1, and this process's AWS environment pointing at it."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker_server.url)
    monkeypatch.setenv("AWS_REGION", sagemaker_fake.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sagemaker_fake.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sagemaker_fake.credentials.secret_access_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "llm")
    return sagemaker_fake


# -- the two web apps ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fastapi_app() -> AsyncIterator[str]:
    """examples/fastapi_sse.py under uvicorn, in a thread, on 127.0.0.1; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        fastapi_sse.app, log_config=None, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with anyio.fail_after(WAIT_S):
            while not server.started:
                assert thread.is_alive(), "uvicorn stopped during startup"
                await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join, WAIT_S)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@contextlib.asynccontextmanager
async def aiohttp_app(*, handler_cancellation: bool = False) -> AsyncIterator[str]:
    """examples/aiohttp_sse.py on aiohttp's runner, in this loop, on 127.0.0.1; its base URL.

    ``handler_cancellation=False`` is aiohttp's default (a disconnect is noticed on the next
    write); the example's ``main`` turns it on (the handler is cancelled at once).
    """
    runner = web.AppRunner(aiohttp_sse.create_app(), handler_cancellation=handler_cancellation)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        with anyio.fail_after(WAIT_S):
            await runner.cleanup()


APPS: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[str]]] = {
    "fastapi": fastapi_app,
    "aiohttp": aiohttp_app,
    "aiohttp-cancelling": lambda: aiohttp_app(handler_cancellation=True),
}


@pytest.fixture(params=["fastapi", "aiohttp"])
async def app_url(request: pytest.FixtureRequest, fake_env: FakeSageMakerRuntime) -> Any:
    """Each web example, serving on 127.0.0.1 with its client pointed at the fake."""
    async with APPS[request.param]() as url:
        yield url


def parse_sse(body: str) -> list[tuple[str | None, Any]]:
    """(event, JSON data) of each frame; asserts the exact framing the examples promise."""
    assert body.endswith("\n\n"), body
    frames = body[:-2].split("\n\n")
    parsed: list[tuple[str | None, Any]] = []
    for frame in frames:
        match = SSE_FRAME.fullmatch(frame)
        assert match is not None, f"not one `event:`? + one `data:` line: {frame!r}"
        parsed.append((match["event"], json.loads(match["data"])))
    return parsed


async def post_sse(url: str, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    """POST and read the whole response (SSE or not)."""
    async with httpx.AsyncClient(base_url=url, timeout=WAIT_S, trust_env=False) as http:
        response = await http.post("/generate", json=body)
    return response, response.text


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (owned by another thread) until it holds, at most WAIT_S."""
    with anyio.fail_after(WAIT_S):
        while not condition():
            await anyio.sleep(0.01)
    assert condition(), what


# -- FastAPI and aiohttp: the same contract ----------------------------------------------------


async def test_sse_tokens_arrive_in_order_then_done(
    app_url: str, fake_env: FakeSageMakerRuntime
) -> None:
    """Every token is one `data: {"token"}` event, in model order; `event: done` ends the stream.

    Special tokens are not forwarded, the model's request carries `stream: true` and the
    requested max_new_tokens, and the endpoint comes from SAGEMAKER_ENDPOINT_NAME.
    """
    fake_env.add_endpoint("llm", Model(WORDS))
    response, body = await post_sse(app_url, {"inputs": "a story", "max_new_tokens": 8})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = parse_sse(body)
    assert events[:-1] == [(None, {"token": word}) for word in WORDS]
    assert events[-1] == ("done", {"tokens": len(WORDS), "finish_reason": "length"})
    (sent,) = fake_env.requests
    assert sent.path == "/endpoints/llm/invocations-response-stream"
    assert json.loads(sent.body) == {
        "inputs": "a story",
        "parameters": {"max_new_tokens": 8},
        "stream": True,
    }


async def test_invoke_passes_the_answer_through(
    app_url: str, fake_env: FakeSageMakerRuntime
) -> None:
    """POST /invoke answers with the model's bytes, its media type and the request id."""

    @fake_env.endpoint("llm")
    def model(invocation: Invocation) -> ModelResponse:
        assert invocation.json()["stream"] is False
        answer = [{"generated_text": invocation.json()["inputs"].upper()}]  # TGI's shape
        return ModelResponse(answer, content_type="application/json")

    async with httpx.AsyncClient(base_url=app_url, timeout=WAIT_S, trust_env=False) as http:
        response = await http.post("/invoke", json={"inputs": "hello"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"generated_text": "HELLO"}]
    assert response.headers["x-sagemaker-request-id"]


@pytest.mark.parametrize(
    "body", [{"inputs": ""}, {"inputs": "hi", "max_new_tokens": 0}, {"prompt": "hi"}]
)
async def test_malformed_requests_never_reach_sagemaker(
    app_url: str, fake_env: FakeSageMakerRuntime, body: dict[str, Any]
) -> None:
    """A request the app cannot turn into a model call is refused (400, or FastAPI's 422) and
    SageMaker is never called."""
    fake_env.add_endpoint("llm", Model(WORDS))
    response, _ = await post_sse(app_url, body)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/json")
    assert fake_env.requests == []


def refuse(invocation: Invocation) -> None:
    """The container answers 413 before streaming anything: the service sends a 424."""
    raise ModelFailure(413, "prompt too long")


async def time_out_at_once(invocation: Invocation) -> AsyncIterator[bytes]:
    """A 200 stream whose only event is a ModelStreamError: no token ever arrives."""
    raise ModelStreamFailure("model too slow", error_code="ModelInvocationTimeExceeded")
    yield b""  # pragma: no cover - makes this an async generator


@pytest.mark.parametrize(
    ("handler", "status", "code", "message"),
    [
        (refuse, 502, "ModelError", "prompt too long"),  # the container's own message
        (None, 400, "ValidationError", "Endpoint llm"),  # no such endpoint
        (time_out_at_once, 502, "ModelInvocationTimeExceeded", "model too slow"),
    ],
    ids=["model-error", "validation-error", "stream-fails-before-a-token"],
)
async def test_errors_before_the_first_token_are_http_errors(
    app_url: str,
    fake_env: FakeSageMakerRuntime,
    handler: Callable[[Invocation], Any] | None,
    status: int,
    code: str,
    message: str,
) -> None:
    """Until the first token, a failure is an HTTP error with a JSON body, never a 200 stream.

    A 424 ModelError answers 502 with the container's message, a ValidationError 400, and a
    stream that breaks before its first token 502 with the stream's error code.
    """
    if handler is not None:
        fake_env.add_endpoint("llm", handler)
    response, _ = await post_sse(app_url, {"inputs": "x" * 50})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert error["request_id"]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (
            ModelStreamFailure("service failed", error_code="ModelInvocationTimeExceeded"),
            "ModelInvocationTimeExceeded",
        ),
        (InternalStreamFault("service failed"), "InternalStreamFailure"),
    ],
    ids=["model-stream-error", "internal-stream-failure"],
)
async def test_errors_after_tokens_are_an_error_event(
    app_url: str, fake_env: FakeSageMakerRuntime, fault: Exception, code: str
) -> None:
    """A stream that breaks after tokens were sent ends with `event: error` (its code and
    message) after those tokens, and nothing follows it (no `done`)."""
    fake_env.add_endpoint("llm", Model(WORDS[:3], fail=fault))
    response, body = await post_sse(app_url, {"inputs": "a story"})
    assert response.status_code == 200
    events = parse_sse(body)
    assert events[:3] == [(None, {"token": word}) for word in WORDS[:3]]
    assert [event for event, _ in events[3:]] == ["error"]  # and nothing after it
    assert events[3][1]["code"] == code
    assert events[3][1]["message"] == "service failed"
    assert events[3][1]["request_id"]


@pytest.mark.parametrize("app", ["fastapi", "aiohttp", "aiohttp-cancelling"])
async def test_browser_disconnect_closes_the_sagemaker_stream(
    app: str, fake_env: FakeSageMakerRuntime, sagemaker_server: LoopbackServer[Any]
) -> None:
    """When the browser leaves mid-stream, the app closes its SageMaker stream promptly.

    The model's generator is closed long before its 500 tokens, and the fake holds no connection
    afterwards: the app's client gave its socket up rather than leaving the stream open.
    """
    model = Model([f" w{i}" for i in range(500)], delay=0.02)
    fake_env.add_endpoint("llm", model)
    async with APPS[app]() as url:
        async with (
            httpx.AsyncClient(base_url=url, timeout=WAIT_S, trust_env=False) as http,
            http.stream("POST", "/generate", json={"inputs": "go on"}) as response,
        ):
            assert response.status_code == 200
            seen = 0
            async for line in response.aiter_lines():
                seen += line.startswith("data: ")
                if seen == 3:
                    break  # leaving the block drops the connection mid-body
        await wait_until(model.closed.is_set, "the model's stream was never closed")
        assert model.yielded < 100
        await wait_until(lambda: sagemaker_server.open_connections == 0, "a connection stayed")


# -- the error mapping, every class --------------------------------------------------------------


def service_error(cls: type[Any], status: int, code: str, **headers: str) -> Any:
    """A ServiceError subclass as the client raises it."""
    return cls("m", status_code=status, error_code=code, request_id="rid", headers=headers)


ERROR_TABLE: list[tuple[SageMakerRuntimeError, int, str | None]] = [
    (service_error(ModelError, 424, "ModelError"), 502, None),
    (service_error(ValidationError, 400, "ValidationError"), 400, None),
    (ParamValidationError("body", "too large"), 400, None),
    (service_error(ThrottlingError, 400, "ThrottlingException", **{"retry-after": "7"}), 503, "7"),
    (service_error(ModelNotReadyException, 429, "ModelNotReadyException"), 503, "1"),
    (service_error(ServiceUnavailable, 503, "ServiceUnavailable"), 503, "1"),
    (service_error(InternalFailure, 500, "InternalFailure"), 502, None),
    (RequestTimeout("slow", timeout="read"), 504, None),
    (TransportError("reset"), 502, None),
    (ModelStreamError("cut", error_code="StreamBroken"), 502, None),
    (CredentialsError("no credentials found"), 500, None),
]


@pytest.mark.parametrize(
    ("exc", "status", "retry_after"), ERROR_TABLE, ids=[type(e).__name__ for e, _, _ in ERROR_TABLE]
)
async def test_error_statuses(
    exc: SageMakerRuntimeError, status: int, retry_after: str | None
) -> None:
    """Both apps map each error class to the same status; 503s carry Retry-After (the service's
    hint when it gave one); a 500 (our misconfiguration) hides the details."""
    request = Request({"type": "http", "method": "POST", "path": "/generate", "headers": []})
    fastapi_response = await fastapi_sse.sagemaker_error(request, exc)

    async def failing(request: web.Request) -> web.StreamResponse:
        raise exc

    aiohttp_response = await aiohttp_sse.sagemaker_errors(
        make_mocked_request("POST", "/generate"), failing
    )
    assert isinstance(aiohttp_response, web.Response)
    for got_status, headers, body in (
        (fastapi_response.status_code, fastapi_response.headers, bytes(fastapi_response.body)),
        (aiohttp_response.status, aiohttp_response.headers, aiohttp_response.body),
    ):
        assert got_status == status
        assert headers.get("retry-after") == retry_after
        assert isinstance(body, bytes)
        error = json.loads(body)["error"]
        assert error["code"] == (getattr(exc, "error_code", None) or type(exc).__name__)
        assert ("see its logs" in error["message"]) == (status == 500)


# -- the FastAPI example as documented: python examples/fastapi_sse.py --fake -------------------


async def test_fastapi_main_with_fake_streams_the_toy_llm() -> None:
    """`python examples/fastapi_sse.py --fake --port 0` serves /generate from the toy LLM."""
    command = [
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "fastapi_sse.py"),
        "--fake",
        "--port",
        "0",
    ]
    async with await anyio.open_process(command, cwd=ROOT) as process:
        assert process.stderr is not None
        log = ""
        found: re.Match[str] | None = None
        try:
            with anyio.fail_after(WAIT_S * 2):
                async for text in TextReceiveStream(process.stderr):
                    log += text
                    found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log)
                    if found:
                        break
            assert found, log
            response, body = await post_sse(found[1], {"inputs": "hi", "max_new_tokens": 6})
        finally:
            process.terminate()
            with anyio.fail_after(WAIT_S):
                await process.wait()
    assert response.status_code == 200, body
    events = parse_sse(body)
    assert "".join(data["token"] for event, data in events if event is None) == (
        "Once upon a time, a client"
    )
    assert events[-1] == ("done", {"tokens": 6, "finish_reason": "length"})


# -- the notebook --------------------------------------------------------------------------------


def notebook_cells() -> list[dict[str, Any]]:
    """The notebook's cells, after checking it is a clean nbformat 4 file (no outputs saved)."""
    notebook = json.loads((EXAMPLES / "notebook.ipynb").read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    cells: list[dict[str, Any]] = notebook["cells"]
    for cell in cells:
        assert cell["cell_type"] in ("markdown", "code")
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    return cells


async def test_notebook_cells_run_with_top_level_await(capsys: pytest.CaptureFixture[str]) -> None:
    """Run top to bottom in one namespace (as a kernel would), every code cell succeeds and
    prints the answer, the streamed story in order, and both typed errors."""
    namespace: dict[str, Any] = {"__name__": "__notebook__"}
    code_cells = [cell for cell in notebook_cells() if cell["cell_type"] == "code"]
    assert any("await " in "".join(cell["source"]) for cell in code_cells)
    try:
        for number, cell in enumerate(code_cells, start=1):
            source = "".join(cell["source"])
            code = compile(
                source, f"<notebook cell {number}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            with anyio.fail_after(WAIT_S):
                result = eval(code, namespace)  # noqa: S307 - our own notebook's code
                if inspect.iscoroutine(result):
                    await result
    finally:  # a failing cell must not leave the notebook's client or fake server open
        rt = namespace.get("rt")
        if isinstance(rt, SageMakerRuntimeClient):
            await rt.aclose()  # safe twice: the last cell closes it too
        server = namespace.get("server")
        if isinstance(server, LoopbackServer):
            server.stop()
    out = capsys.readouterr().out
    assert "{'label': 'POSITIVE', 'score': 2, 'tokens': 7}" in out
    assert "Once upon a time, a client waited in a thread for boto3. Then it" in out
    assert "ModelError: the container said 400: expected" in out
    assert "ValidationError: Endpoint no-such-endpoint" in out
    assert namespace["server"].open_connections == 0


# -- trio ----------------------------------------------------------------------------------------


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    """Run an example script with warnings as errors; bounded in time."""
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_trio_example_streams_and_invokes() -> None:
    """`python examples/trio_stream.py --fake` prints the toy LLM's tokens in order, then the
    one-shot answer, both within the deadline."""
    done = run_example(str(EXAMPLES / "trio_stream.py"), "--fake", "--max-new-tokens", "8")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "stream from 'toy-llm', at most 30 s:"
    assert lines[1] == "Once upon a time, a client waited in"
    assert lines[2] == f"[{len(lines[1])} characters]"
    assert re.fullmatch(r"\[\d+ bytes of application/json in [\d.]+ s, request id \S+\]", lines[4])


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_deadlines_cancel_and_release(
    fake_env: FakeSageMakerRuntime,
    sagemaker_server: LoopbackServer[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On trio, a deadline that passes gives up the call (None, without waiting for the answer)
    and cuts the stream after the tokens so far, in order, closing the model's stream; the client
    keeps working after both."""
    answer = threading.Event()  # the slow model answers once the test has given up on it

    @fake_env.endpoint("slow")
    async def slow(invocation: Invocation) -> dict[str, bool]:
        with anyio.fail_after(WAIT_S):
            while not answer.is_set():
                await anyio.sleep(0.01)
        return {"ok": True}

    model = Model([f" w{i}" for i in range(200)], delay=0.02)
    fake_env.add_endpoint("llm", model)
    body = trio_stream.request_body("hi", 200, stream=True)
    async with SageMakerRuntimeClient() as rt:
        start = trio.current_time()
        assert await trio_stream.invoke_within(rt, "slow", {}, 0.1) is None
        assert trio.current_time() - start < WAIT_S / 2
        answer.set()

        with trio.move_on_after(0.5) as scope:
            await trio_stream.stream_tokens(rt, "llm", body)
        assert scope.cancelled_caught
        await wait_until(model.closed.is_set, "the model's stream was never closed")
        printed = capsys.readouterr().out.split()
        assert printed == [f"w{i}" for i in range(len(printed))]
        assert 0 < model.yielded < 200

        result = await trio_stream.invoke_within(rt, "slow", {}, WAIT_S)
        assert result is not None and result.json() == {"ok": True}


# -- batch scoring -------------------------------------------------------------------------------


def test_batch_jsonl_writes_one_line_per_input_in_order(
    fake_env: FakeSageMakerRuntime, tmp_path: Path
) -> None:
    """Output line i answers input line i even when answers finish out of order; a failing line
    and a line that is not JSON are recorded in place (the latter never sent); at most
    --concurrency calls are in flight; exit status 1 when any line failed."""
    in_flight = peak = 0

    @fake_env.endpoint("scorer")
    async def scorer(invocation: Invocation) -> dict[str, int]:
        nonlocal in_flight, peak
        n = invocation.json()["n"]
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await anyio.sleep(0.02 * (5 - n % 5))  # later lines tend to finish first
            if n == 7:
                raise ModelFailure(400, "seven is not allowed")
            return {"double": 2 * n}
        finally:
            in_flight -= 1

    lines = [json.dumps({"n": n}) for n in range(12)]
    lines.insert(3, "")  # a blank line: skipped, not a request
    lines.insert(6, "{not json")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"

    done = run_example(
        str(EXAMPLES / "batch_jsonl.py"),
        str(source),
        str(target),
        "--endpoint",
        "scorer",
        "--concurrency",
        "4",
        "--progress",
    )
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == [i + 1 for i, line in enumerate(lines) if line]
    by_line = {r["line"]: r for r in records}
    for number, line in enumerate(lines, start=1):
        if not line or line == "{not json":
            continue
        n = json.loads(line)["n"]
        if n == 7:
            error = by_line[number]["error"]
            assert error["type"] == "ModelError" and error["message"] == "seven is not allowed"
        else:
            assert by_line[number] == {"line": number, "result": {"double": 2 * n}}
    assert by_line[7]["error"]["type"] == "InvalidJSON"
    assert len(fake_env.requests) == 12  # the line that is not JSON was never sent
    assert 1 < peak <= 4
    assert "13 lines in" in done.stdout and "11 ok, 2 failed" in done.stdout
    # The tqdm bar: the input is streamed, so it counts calls (no total) with the errors so far.
    assert "12call" in done.stderr and "errors=1" in done.stderr


def test_batch_jsonl_streams_records_out_before_the_input_is_read(
    fake_env: FakeSageMakerRuntime, tmp_path: Path
) -> None:
    """The example streams: when the model sees the last of 3,000 lines, the records of most
    earlier lines are already in the output file (a collect-then-write batch holds them all
    in memory until the end), and the file ends with every line in order."""
    total = 3_000
    written_when_last_arrived: list[int] = []
    target = tmp_path / "out.jsonl"

    @fake_env.endpoint("scorer")
    def scorer(invocation: Invocation) -> dict[str, int]:
        n = invocation.json()["n"]
        if n == total - 1:
            written_when_last_arrived.append(target.read_bytes().count(b"\n"))
        return {"double": 2 * n}

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(total)))
    done = run_example(
        str(EXAMPLES / "batch_jsonl.py"), str(source), str(target), "--endpoint", "scorer"
    )
    assert done.returncode == 0, done.stderr
    assert written_when_last_arrived and written_when_last_arrived[0] >= total // 2
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == list(range(1, total + 1))


# -- Ray Data ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_example_scores_jsonl_into_parquet(tmp_path: Path) -> None:
    """`python examples/ray_score.py examples/sentiment.jsonl OUT --fake` writes Parquet with
    one row per input line: the answer, or the row's typed error; exit status 1 as one failed."""
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "scored"
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-W",  # Ray Data's DataContext sets its own deprecated fields while initialising
            "ignore::DeprecationWarning:ray.data.context",
            str(EXAMPLES / "ray_score.py"),
            str(EXAMPLES / "sentiment.jsonl"),
            str(target),
            "--fake",
            "--num-cpus",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,  # a local Ray's start on a loaded 2-core machine
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = (EXAMPLES / "sentiment.jsonl").read_text(encoding="utf-8").splitlines()
    rows = {r["text"]: r for r in pq.read_table(target).to_pylist()}
    assert sorted(rows) == sorted(lines)
    failed = [r for r in rows.values() if r["error_type"] is not None]
    assert [r["error_type"] for r in failed] == ["ModelError"]
    assert failed[0]["output"] is None and "expected" in failed[0]["error"]
    for r in rows.values():
        if r["error_type"] is None:
            assert json.loads(r["output"])["label"] in ("POSITIVE", "NEGATIVE", "NEUTRAL")
    assert f"{len(lines)} rows scored, {len(lines) - 1} ok, 1 failed" in done.stdout
