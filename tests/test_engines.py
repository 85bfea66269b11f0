"""Every engine sends the same bytes, and the response body cap holds on each.

A capturing loopback server records each request exactly as it arrived (request line, header
lines in order, body). The same calls go through the aiohttp engine, our httpx client, a lent
``httpx.AsyncClient`` and a lent ``httpx2.AsyncClient``; after masking what is meant to differ
per request (the date, the signature made over it, the invocation id), the bytes must be equal.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from _hostile import Conn, Hostile, response

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeSageMakerRuntime

pytestmark = pytest.mark.anyio

ENGINES = ["aiohttp", "httpx", "lent-httpx", "lent-httpx2"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both async libraries."""
    return str(request.param)


def _client(url: str, engine: str, **kwargs: Any) -> tuple[sm.SageMakerRuntimeClient, Any]:
    lent: Any = None
    if engine == "lent-httpx":
        import httpx

        lent = kwargs["http_client"] = httpx.AsyncClient()
    elif engine == "lent-httpx2":
        httpx2 = pytest.importorskip("httpx2")
        lent = kwargs["http_client"] = httpx2.AsyncClient()
    else:
        kwargs["transport"] = engine
    rt = sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=url,
        s3_endpoint_url=url,
        credentials=TEST_CREDENTIALS,
        retry=False,
        **kwargs,
    )
    return rt, lent


_MASKS = [
    (re.compile(rb"(?im)^(x-amz-date): [^\r\n]*"), rb"\1: <date>"),
    (re.compile(rb"(?im)^(amz-sdk-invocation-id): [^\r\n]*"), rb"\1: <id>"),
    (re.compile(rb"(?i)Signature=[0-9a-f]{64}"), rb"Signature=<sig>"),
    (re.compile(rb"127\.0\.0\.1:\d+"), rb"127.0.0.1:<port>"),  # a server per engine
    (re.compile(rb"(?i)Credential=([^/]+)/\d{8}/"), rb"Credential=\1/<day>/"),
]


def _masked(raw: bytes) -> bytes:
    for pattern, repl in _MASKS:
        raw = pattern.sub(repl, raw)
    return raw


async def _capture(engine: str, anyio_backend: str) -> list[bytes]:
    if engine == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    seen: list[bytes] = []

    async def record(conn: Conn) -> None:
        while True:
            try:
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except Exception:
                return
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            body = await conn.reader.readexactly(int(length[1])) if length else b""
            seen.append(head + body)
            if b"invocations-response-stream" in head.split(b"\r\n", 1)[0]:
                await conn.send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
            elif head.startswith(b"GET"):
                await conn.send(response(b"object"))
            elif head.startswith(b"PUT"):
                await conn.send(b'HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: 0\r\n\r\n')
            else:
                await conn.send(response(b"{}"))

    with Hostile(record) as server:
        rt, lent = _client(server.url, engine)
        try:
            async with rt:
                await rt.invoke_endpoint(
                    "my-endpoint",
                    json={"inputs": "hi"},
                    accept="application/json",
                    custom_attributes="a=b",
                    target_variant="v1",
                    inference_id="id-1",
                )
                await rt.invoke_endpoint("my-endpoint", b"")
                async with rt.invoke_endpoint_with_response_stream("llm", b'{"x":1}') as s:
                    assert [p async for p in s] == []
                await rt.upload_input("s3://bkt/in/k%3D=v*w.json", b"payload")
                s3 = await rt._s3_client()
                assert (await s3.get_object("bkt", "in/a b+c.json")).body == b"object"
        finally:
            if lent is not None:
                await lent.aclose()
    return [_masked(r) for r in seen]


async def test_every_engine_sends_identical_request_bytes(anyio_backend: str) -> None:
    """Method, target, header names, values and order, and body: the same on every engine."""
    reference = await _capture("httpx", anyio_backend)
    assert len(reference) == 5
    first = reference[0].decode("latin-1").split("\r\n\r\n")[0]
    # Exactly the headers boto3 sends, in our order: no Accept/Content-Type/User-Agent of an
    # engine's own, no Connection or cookie header.
    names = [line.split(":", 1)[0] for line in first.split("\r\n")[1:] if line]
    assert names == [
        "Host",
        "Content-Type",
        "Accept",
        "X-Amzn-SageMaker-Custom-Attributes",
        "X-Amzn-SageMaker-Target-Variant",
        "X-Amzn-SageMaker-Inference-Id",
        "X-Amz-Date",
        "Authorization",
        "User-Agent",
        "Accept-Encoding",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "Content-Length",
    ]
    assert first.startswith("POST /endpoints/my-endpoint/invocations HTTP/1.1\r\n")
    assert reference[3].startswith(b"PUT /bkt/in/k%253D%3Dv%2Aw.json HTTP/1.1\r\n")
    for engine in ENGINES:
        if engine == "httpx":
            continue
        if engine == "aiohttp" and anyio_backend != "asyncio":
            continue
        got = await _capture(engine, anyio_backend)
        assert got == reference, engine


async def test_the_fake_engine_records_what_the_others_send(anyio_backend: str) -> None:
    """The in-process engine hands the fake the same header list the wire carries."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("echo", lambda inv: inv.body)
    async with fake.client() as rt:
        await rt.invoke_endpoint("echo", json={"inputs": "hi"}, accept="application/json")
    names = [k for k, _ in fake.requests[0].headers]
    assert names[:3] == ["Host", "Content-Type", "Accept"]
    assert names[-4:] == ["Accept-Encoding", "amz-sdk-invocation-id", "amz-sdk-request",
                          "Content-Length"]  # fmt: skip


# --- the response body cap ----------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_max_response_bytes_is_refused_reading_no_more(
    anyio_backend: str, framing: str
) -> None:
    """Over the cap: ResponseTooLarge naming the limit; refused from Content-Length before
    reading, or as soon as more arrived; not retried; the connection is closed."""
    body = b"x" * 4096
    if framing == "chunked":
        wire = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"400\r\n" + body[i : i + 1024] + b"\r\n" for i in range(0, 4096, 1024))
            + b"0\r\n\r\n"
        )
    else:
        wire = response(body)

    async def answer(conn: Conn) -> None:
        if await conn.request() is not None:
            await conn.send(wire)

    engines = ["aiohttp", "httpx"] if anyio_backend == "asyncio" else ["httpx"]
    with Hostile(answer) as server:
        for engine in engines:
            rt, _ = _client(server.url, engine, max_response_bytes=1000)
            async with rt:
                with pytest.raises(sm.ResponseTooLarge) as info:
                    await rt.invoke_endpoint("x", b"{}", retry=3)
            assert info.value.limit == 1000
            assert "1,000 bytes" in str(info.value)
            assert info.value.content_length == (4096 if framing == "content-length" else None)
        assert server.requests == len(engines)
        with anyio.fail_after(5):
            while server.open_connections:
                await anyio.sleep(0.01)


async def test_the_default_cap_is_the_services_6_mib(anyio_backend: str) -> None:
    """6 MiB passes, one byte more does not (in-process: no socket needed)."""
    fake = FakeSageMakerRuntime()
    fake.add_endpoint("big", lambda inv: b"y" * int(inv.body))
    async with fake.client() as rt:
        assert len((await rt.invoke_endpoint("big", b"6291456")).body) == 6 * 1024 * 1024
        with pytest.raises(sm.ResponseTooLarge):
            await rt.invoke_endpoint("big", b"6291457")
    async with fake.client(max_response_bytes=None) as rt:
        assert len((await rt.invoke_endpoint("big", b"6291457")).body) == 6291457


def test_max_response_bytes_is_validated() -> None:
    """Not a positive int (or None): a ParamValidationError naming it."""
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(sm.ParamValidationError, match="max_response_bytes"):
            sm.SageMakerRuntimeClient(region="us-east-1", max_response_bytes=bad)  # type: ignore[arg-type]
