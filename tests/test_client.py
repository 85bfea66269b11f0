"""SageMakerRuntimeClient.invoke_endpoint end to end, configuration and lifecycle."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async._engines import Engine
from sagemaker_rt_async._engines.aiohttp_engine import AiohttpEngine
from sagemaker_rt_async._engines.httpx_engine import HttpxEngine
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    FakeSageMakerRuntime,
    Invocation,
    LoopbackServer,
    ModelResponse,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on asyncio and on trio."""
    return str(request.param)


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """A fake service with an echo endpoint."""
    f = FakeSageMakerRuntime()
    f.add_endpoint("echo")
    return f


@pytest.fixture
def server(fake: FakeSageMakerRuntime) -> Iterator[LoopbackServer[FakeSageMakerRuntime]]:
    """The fake on a real loopback socket."""
    with fake.serve() as srv:
        yield srv


@pytest.fixture
async def rt(fake: FakeSageMakerRuntime) -> AsyncIterator[sm.SageMakerRuntimeClient]:
    """Our client bound to the fake through the in-process transport."""
    async with fake.client() as client:
        yield client


MEMBERS = [
    ("content_type", "text/csv", "Content-Type"),
    ("accept", "application/jsonlines", "Accept"),
    ("custom_attributes", "trace=abc, x=1", "X-Amzn-SageMaker-Custom-Attributes"),
    ("target_model", "models/m-1.tar.gz", "X-Amzn-SageMaker-Target-Model"),
    ("target_variant", "variant-b", "X-Amzn-SageMaker-Target-Variant"),
    ("target_container_hostname", "ctr-2", "X-Amzn-SageMaker-Target-Container-Hostname"),
    ("inference_id", "req 42/x", "X-Amzn-SageMaker-Inference-Id"),
    ("enable_explanations", "`true`", "X-Amzn-SageMaker-Enable-Explanations"),
    ("inference_component_name", "ic-llama", "X-Amzn-SageMaker-Inference-Component"),
    ("session_id", "NEW_SESSION", "X-Amzn-SageMaker-Session-Id"),
    ("session_id", "sess-123", "X-Amzn-SageMaker-Session-Id"),
    ("prefix_aware_id", "user-7", "X-Amzn-SageMaker-Prefix-Aware-Id"),
]


@pytest.mark.parametrize(("param", "value", "header"), MEMBERS)
async def test_each_member_travels_in_its_header(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient, param: str, value: str, header: str
) -> None:
    """Every InvokeEndpoint member is sent, verbatim, in the header the service model names."""
    kwargs: dict[str, Any] = {param: value}
    await rt.invoke_endpoint("echo", b"x", **kwargs)
    sent = fake.requests[-1]
    assert sent.header(header) == value
    assert sent.path == "/endpoints/echo/invocations"
    assert sent.method == "POST"


async def test_unset_members_send_no_headers(
    fake: FakeSageMakerRuntime, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """With no options, neither httpx's nor aiohttp's default Accept/Content-Type is sent."""
    for transport in ("httpx", "aiohttp"):
        if transport == "aiohttp" and not _on_asyncio():
            continue
        async with fake.client(endpoint_url=server.url, transport=transport) as rt:
            await rt.invoke_endpoint("echo", b"raw")
        sent = fake.requests[-1]
        names = {k.lower() for k, _ in sent.headers}
        assert "accept" not in names, transport
        assert "content-type" not in names, transport
        assert not any(n.startswith("x-amzn-sagemaker") for n in names), transport
        assert sent.header("accept-encoding") == "identity"


def _on_asyncio() -> bool:
    import sniffio

    return sniffio.current_async_library() == "asyncio"


async def test_response_members(fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient) -> None:
    """Every response member is read from its header; request_id from x-amzn-RequestId."""

    def handler(inv: Invocation) -> ModelResponse:
        return ModelResponse(
            b'{"ok": true}',
            content_type="application/json; charset=utf-8",
            custom_attributes="c=1",
            new_session_id="sess-9; Expires=2026-12-01T10:20:30Z",
            closed_session_id="sess-8",
            invoked_production_variant="blue",
        )

    fake.add_endpoint("ep", handler)
    r = await rt.invoke_endpoint("ep", b"{}")
    assert r.body == b'{"ok": true}'
    assert r.json() == {"ok": True}
    assert r.text == '{"ok": true}'
    assert r.content_type == "application/json; charset=utf-8"
    assert r.custom_attributes == "c=1"
    assert r.invoked_production_variant == "blue"
    assert r.closed_session_id == "sess-8"
    assert r.new_session_id == "sess-9; Expires=2026-12-01T10:20:30Z"
    assert r.new_session == sm.NewSession(
        "sess-9", datetime(2026, 12, 1, 10, 20, 30, tzinfo=timezone.utc)
    )
    assert r.request_id and len(r.request_id) == 36
    assert "sess" not in repr(r) and "<12 bytes>" in repr(r)


async def test_absent_response_members_are_none(rt: sm.SageMakerRuntimeClient) -> None:
    """Members the service did not send are None, not empty strings."""
    r = await rt.invoke_endpoint("echo", b"")
    assert r.body == b""
    assert r.custom_attributes is None
    assert r.new_session_id is None and r.new_session is None
    assert r.closed_session_id is None


@pytest.mark.parametrize(
    ("body", "wire"),
    [
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ab"), b"ab"),
        (memoryview(b"mv"), b"mv"),
        ("héllo ✓", "héllo ✓".encode()),
        (b"", b""),
    ],
)
async def test_body_types(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient, body: Any, wire: bytes
) -> None:
    """Bytes-like bodies go out unchanged and str bodies as UTF-8."""
    r = await rt.invoke_endpoint("echo", body)
    assert fake.requests[-1].body == wire
    assert r.body == wire


async def test_json_keyword(fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient) -> None:
    """json= sends compact UTF-8 JSON and defaults the content type; an explicit one wins."""
    await rt.invoke_endpoint("echo", json={"inputs": "é", "n": [1, 2]})
    assert fake.requests[-1].body == '{"inputs":"é","n":[1,2]}'.encode()
    assert fake.requests[-1].header("content-type") == "application/json"
    await rt.invoke_endpoint("echo", json=[1], content_type="application/x-custom+json")
    assert fake.requests[-1].header("content-type") == "application/x-custom+json"


async def test_new_session_parse_tolerates_odd_expiry() -> None:
    """An unexpected NewSessionId format still yields the id (expiry None), never an exception."""
    assert sm.NewSession.parse("abc; Expires=soon") == sm.NewSession("abc", None)
    assert sm.NewSession.parse("abc") == sm.NewSession("abc", None)


async def test_lifecycle_owned_client(
    server: LoopbackServer[FakeSageMakerRuntime], fake: FakeSageMakerRuntime
) -> None:
    """aclose() is safe twice; any use after close raises ClientClosedError, before any I/O."""
    rt = fake.client(endpoint_url=server.url, transport="httpx")
    await rt.invoke_endpoint("echo", b"1")
    await rt.aclose()
    await rt.aclose()
    before = len(fake.requests)
    with pytest.raises(sm.ClientClosedError):
        await rt.invoke_endpoint("echo", b"1")
    with pytest.raises(sm.ClientClosedError):
        async with rt:
            pass
    assert len(fake.requests) == before
    assert "closed" in repr(rt)


async def test_lent_http_client_is_never_closed(fake: FakeSageMakerRuntime) -> None:
    """A borrowed httpx.AsyncClient stays open after our client closes."""
    lent = httpx.AsyncClient(transport=fake.transport())
    async with sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url="http://x.test",
        credentials=TEST_CREDENTIALS,
        http_client=lent,
    ) as rt:
        await rt.invoke_endpoint("echo", b"1")
    assert not lent.is_closed
    # The lent client is still usable by its owner.
    resp = await lent.get("http://x.test/ping")
    assert resp.status_code == 403  # unsigned -> MissingAuthenticationToken
    await lent.aclose()


async def test_owned_http_client_closed_on_exit(
    server: LoopbackServer[FakeSageMakerRuntime],
) -> None:
    """The client closes the pool it created, and the server sees the connection go away."""
    fake = server.fake
    async with fake.client(endpoint_url=server.url, transport="httpx") as rt:
        await rt.invoke_endpoint("echo", b"1")
        assert server.open_connections == 1
        engine = rt._engine
        assert isinstance(engine, HttpxEngine)
        http = engine.client
    assert http.is_closed
    await _until(lambda: server.open_connections == 0)


async def _until(condition: Any, timeout: float = 5.0) -> None:
    import anyio

    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)


async def test_trio_rejects_aiohttp_transport(server: LoopbackServer[FakeSageMakerRuntime]) -> None:
    """Asking for the aiohttp engine under trio is a clear configuration error."""
    if _on_asyncio():
        pytest.skip("trio only")
    async with server.fake.client(endpoint_url=server.url, transport="aiohttp") as rt:
        with pytest.raises(sm.ParamValidationError, match="transport"):
            await rt.invoke_endpoint("echo", b"1")


async def test_default_transport_per_backend(server: LoopbackServer[FakeSageMakerRuntime]) -> None:
    """asyncio gets the aiohttp engine by default, trio gets httpx's own."""
    async with sm.SageMakerRuntimeClient(
        region="us-east-1", endpoint_url=server.url, credentials=TEST_CREDENTIALS
    ) as rt:
        await rt.invoke_endpoint("echo", b"1")
        engine = rt._engine
        assert isinstance(engine, AiohttpEngine if _on_asyncio() else HttpxEngine)


CONSTRUCTOR_ERRORS = [
    ({"transport": "curl"}, "transport"),
    ({"max_connections": 0}, "max_connections"),
    ({"max_connections": True}, "max_connections"),
    ({"http_client": object()}, "http_client"),
    ({"region": "US-EAST-1"}, "region"),
    ({"region": "us east 1"}, "region"),
    ({"region": "us-east-1", "endpoint_url": "ftp://x"}, "endpoint_url"),
    ({"region": "us-east-1", "endpoint_url": "http://x", "use_fips": True}, "use_fips"),
    ({"region": "us-east-1", "endpoint_url": "http://x", "use_dualstack": True}, "use_dualstack"),
    ({"endpoint_url": "http://127.0.0.1:1"}, "region"),
    ({"region": "us-east-1", "credentials": ("only-one",)}, "credentials"),
    ({"region": "us-east-1", "credentials": 42}, "credentials"),
]


@pytest.mark.parametrize(("kwargs", "param"), CONSTRUCTOR_ERRORS)
def test_constructor_rejects(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], param: str
) -> None:
    """Configuration mistakes raise ParamValidationError naming the option, at construction."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(sm.ParamValidationError) as info:
        sm.SageMakerRuntimeClient(**kwargs)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("kwargs", "url", "region"),
    [
        ({"region": "eu-west-1"}, "https://runtime.sagemaker.eu-west-1.amazonaws.com", "eu-west-1"),
        (
            {"region": "fips-us-east-1"},
            "https://runtime-fips.sagemaker.us-east-1.amazonaws.com",
            "us-east-1",
        ),
        (
            {"region": "us-west-2", "use_dualstack": True},
            "https://runtime.sagemaker.us-west-2.api.aws",
            "us-west-2",
        ),
        (
            {"region": "cn-north-1"},
            "https://runtime.sagemaker.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
        ),
        (
            {"region": "us-east-1", "endpoint_url": "http://localhost:8080/prefix/"},
            "http://localhost:8080/prefix",
            "us-east-1",
        ),
    ],
)
def test_endpoint_selection(kwargs: dict[str, Any], url: str, region: str) -> None:
    """The client resolves the service URL and signing region per the endpoint rule set."""
    rt = sm.SageMakerRuntimeClient(**kwargs)
    assert rt.endpoint_url == url
    assert rt.region == region


def test_region_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_REGION, then AWS_DEFAULT_REGION, supply the region when none is passed."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert sm.SageMakerRuntimeClient().region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert sm.SageMakerRuntimeClient().region == "ap-south-1"


@pytest.mark.parametrize(
    ("env", "kwargs", "url", "s3_url"),
    [
        ({}, {}, "https://runtime.sagemaker.us-east-1.amazonaws.com", None),
        (
            {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
            {},
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
        (
            {
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:7",
                "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8",
            },
            {},
            "http://127.0.0.1:7",
            "http://127.0.0.1:8",
        ),
        (
            {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:7"},
            {"endpoint_url": "http://localhost:6", "s3_endpoint_url": "http://localhost:5"},
            "http://localhost:6",
            "http://localhost:5",
        ),
        (
            {
                "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE",
            },
            {},
            "https://runtime.sagemaker.us-east-1.amazonaws.com",
            None,
        ),
        ({"AWS_ENDPOINT_URL": "  "}, {}, "https://runtime.sagemaker.us-east-1.amazonaws.com", None),
    ],
)
def test_endpoint_url_from_environment(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    kwargs: dict[str, str],
    url: str,
    s3_url: str | None,
) -> None:
    """AWS_ENDPOINT_URL_<SERVICE> beats AWS_ENDPOINT_URL, arguments beat both (as botocore)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rt = sm.SageMakerRuntimeClient(region="us-east-1", **kwargs)  # type: ignore[arg-type]
    assert rt.endpoint_url == url
    assert rt.config.s3_endpoint_url == s3_url


async def test_region_from_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: LoopbackServer[FakeSageMakerRuntime]
) -> None:
    """With no argument and no env, the profile's region is read, at construction as boto3."""
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    rt = sm.SageMakerRuntimeClient(
        profile="dev", credentials=TEST_CREDENTIALS, endpoint_url=server.url, transport="httpx"
    )
    assert rt.region == "us-east-1"
    assert rt.config.source("region") == f"profile 'dev' in {config}"
    async with rt:
        await rt.invoke_endpoint("echo", b"1")


async def test_no_region_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No region from any source: a ParamValidationError that says where it looked."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    async with sm.SageMakerRuntimeClient(credentials=TEST_CREDENTIALS) as rt:
        with pytest.raises(sm.ParamValidationError, match="AWS_REGION") as info:
            await rt.invoke_endpoint("echo", b"1")
    assert info.value.param == "region"


def test_secrets_not_in_reprs() -> None:
    """Neither the client nor Credentials ever show a secret key or session token."""
    creds = sm.Credentials("AKIAEXAMPLEKEY123456", "s3cr3t-value-xyz", "tok-abc-123")
    rt = sm.SageMakerRuntimeClient(region="us-east-1", credentials=creds)
    for text in (repr(creds), str(creds), repr(rt), str(rt)):
        assert "s3cr3t" not in text
        assert "tok-abc" not in text
    assert "AKIAEXAMPLEKEY123456" not in repr(creds)


async def test_tuple_credentials_with_token(server: LoopbackServer[FakeSageMakerRuntime]) -> None:
    """An (access, secret, token) tuple signs with the token (the fake checks it)."""
    fake = FakeSageMakerRuntime(credentials=sm.Credentials("AKIDTOKEN00000000001", "sec", "tok"))
    fake.add_endpoint("echo")
    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            credentials=("AKIDTOKEN00000000001", "sec", "tok"),
            transport="httpx",
        ) as rt:
            r = await rt.invoke_endpoint("echo", b"hi")
    assert r.body == b"hi"
    assert fake.requests[-1].header("x-amz-security-token") == "tok"
    assert "x-amz-security-token" in (fake.requests[-1].header("authorization") or "")


async def test_wrong_secret_is_authentication_error(
    server: LoopbackServer[FakeSageMakerRuntime],
) -> None:
    """A bad signature comes back as AuthenticationError with the service's code."""
    async with sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=server.url,
        credentials=(TEST_CREDENTIALS.access_key_id, "wrong-secret"),
        transport="httpx",
    ) as rt:
        with pytest.raises(sm.AuthenticationError) as info:
            await rt.invoke_endpoint("echo", b"hi")
    assert info.value.error_code == "InvalidSignatureException"
    assert info.value.status_code == 403
    assert "wrong-secret" not in str(info.value)


async def test_model_error_end_to_end(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """A container failure surfaces as ModelError with its original status and message."""
    from sagemaker_rt_async.testing import ModelFailure

    def handler(inv: Invocation) -> bytes:
        raise ModelFailure(503, json.dumps({"error": "oom"}), log_stream_arn="arn:aws:logs:x")

    fake.add_endpoint("sick", handler)
    with pytest.raises(sm.ModelError) as info:
        await rt.invoke_endpoint("sick", b"{}")
    err = info.value
    assert err.status_code == 424
    assert err.original_status_code == 503
    assert err.original_message == '{"error": "oom"}'
    assert err.log_stream_arn == "arn:aws:logs:x"
    assert err.request_id


async def test_a_crashing_handler_is_a_model_error(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """A handler that raises (a container crash) answers 424 ModelError, original status 500."""

    def crash(inv: Invocation) -> bytes:
        raise KeyError("inputs")

    fake.add_endpoint("crash", crash)
    with pytest.raises(sm.ModelError) as info:
        await rt.invoke_endpoint("crash", b"{}")
    assert info.value.original_status_code == 500
    assert "KeyError" in (info.value.original_message or "")


async def test_engine_is_built_once_off_the_event_loop(
    server: LoopbackServer[FakeSageMakerRuntime],
    fake: FakeSageMakerRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 concurrent first calls build one HTTP engine, in a worker thread (imports, TLS files)."""
    import threading

    from sagemaker_rt_async._engines import make_engine as real

    built: list[str] = []

    def recording(**kwargs: Any) -> Engine:
        built.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr("sagemaker_rt_async._client.make_engine", recording)
    async with fake.client(endpoint_url=server.url) as rt:
        results: list[bytes] = []

        async def one(i: int) -> None:
            results.append((await rt.invoke_endpoint("echo", str(i))).body)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
    assert sorted(results) == sorted(str(i).encode() for i in range(20))
    assert len(built) == 1 and built[0] != threading.main_thread().name


async def test_close_while_the_engine_is_built(
    server: LoopbackServer[FakeSageMakerRuntime],
    fake: FakeSageMakerRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client closed while its engine is being built raises ClientClosedError and closes it."""
    import time

    from sagemaker_rt_async._engines import make_engine as real

    made: list[Engine] = []
    closed: list[Engine] = []

    class Recording:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine

        async def send(self, *args: Any) -> Any:
            return await self.engine.send(*args)

        async def aclose(self) -> None:
            closed.append(self)
            await self.engine.aclose()

    def slow(**kwargs: Any) -> Engine:
        time.sleep(0.3)  # in the worker thread
        made.append(Recording(real(**kwargs)))
        return made[-1]

    monkeypatch.setattr("sagemaker_rt_async._client.make_engine", slow)
    rt = fake.client(endpoint_url=server.url)
    raised: list[BaseException] = []

    async def call() -> None:
        try:
            await rt.invoke_endpoint("echo", b"x")
        except sm.ClientClosedError as exc:
            raised.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await anyio.sleep(0.1)
        await rt.aclose()
    assert len(raised) == 1
    assert len(made) == 1 and closed == made
