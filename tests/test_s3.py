"""The S3 client (async inference payloads): GET/HEAD/PUT Object, S3 SigV4, region hints, errors.

Three peers: ``FakeS3`` in-process (virtual-hosted AWS host names; the fake records every
request target exactly as received) and on a loopback socket through both HTTP engines; moto's
S3 server with IAM authentication switched on, so it recomputes every signature with
botocore's ``S3SigV4Auth``; and botocore's signer itself as a differential oracle, with its
clock frozen at our ``X-Amz-Date``.

Deliberate difference from botocore, asserted here: a ``.`` / ``..`` key segment goes out as
``%2E`` / ``%2E%2E``, because httpx removes dot segments from every URL (botocore sends them
raw). moto stores the same key either way.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from unittest import mock
from urllib.parse import quote

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest
from _moto import moto_server

from sagemaker_rt_async import Credentials, S3Error
from sagemaker_rt_async._credentials import CredentialResolver
from sagemaker_rt_async._engines import Engine, make_engine
from sagemaker_rt_async._exchange import Exchange
from sagemaker_rt_async._s3 import S3Client
from sagemaker_rt_async._sigv4 import EMPTY_SHA256
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeResponse, RecordedRequest
from sagemaker_rt_async.testing._s3 import FakeS3

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
TOKEN_CREDENTIALS = Credentials(
    "AKIDFAKEEXAMPLE00003",
    "fake/secret/key/for/s3/tests/only/000003",
    "FQoGZXIvYXdzEXAMPLE//s3/session/token+with/slashes==",
)

# key -> the key as it must appear in the request target: every byte but unreserved and "/"
# escaped once (botocore's rule), and "." / ".." segments as %2E / %2E%2E (ours, see above).
KEYS: list[tuple[str, str]] = [
    ("plain.txt", "plain.txt"),
    ("in/a b+c=d~e*f(1)!'é%2F.json", "in/a%20b%2Bc%3Dd~e%2Af%281%29%21%27%C3%A9%252F.json"),
    ("a//b/./c/../d", "a//b/%2E/c/%2E%2E/d"),
    (".hidden/..x/...", ".hidden/..x/..."),
    ("日本/😀 x", "%E6%97%A5%E6%9C%AC/%F0%9F%98%80%20x"),
    ("q?x=1&y#frag", "q%3Fx%3D1%26y%23frag"),
    ("semi;colon:at@dollar$comma,", "semi%3Bcolon%3Aat%40dollar%24comma%2C"),
    ('[]{}|\\^`<>"', "%5B%5D%7B%7D%7C%5C%5E%60%3C%3E%22"),
    ("trailing/", "trailing/"),
    ("%41%2541+", "%2541%252541%2B"),
]
KEY_IDS = [f"key{i}" for i in range(len(KEYS))]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on asyncio and on trio."""
    return str(request.param)


# ---------------------------------------------------------------------------------------------
# FakeS3 peers: in-process (AWS host names, virtual-hosted) and loopback through each engine.


def s3_over(engine: Engine, credentials: Credentials, **kwargs: Any) -> S3Client:
    """An S3Client sending through ``engine`` (the client's exchange, without the client)."""

    async def get_engine() -> Engine:
        return engine

    exchange = Exchange(
        credentials=CredentialResolver.static(credentials), engine=get_engine, max_connections=10
    )
    return S3Client(exchange=exchange, **kwargs)


@dataclass
class Env:
    """A FakeS3 and how the client reaches it."""

    fake: FakeS3
    door: str  # "in-process" | "aiohttp" | "httpx"
    backend: str
    url: str | None = None
    open_streams: Any = None

    @property
    def base_path(self) -> str:
        """The path prefix of bucket ``bkt``: virtual-hosted in-process, path style on loopback."""
        return "/" if self.door == "in-process" else "/bkt/"

    @contextlib.asynccontextmanager
    async def client(
        self, credentials: Credentials = TEST_CREDENTIALS, **kwargs: Any
    ) -> AsyncIterator[S3Client]:
        """An S3Client bound to this peer; its HTTP client is closed on exit."""
        engine: Engine
        if self.door == "in-process":
            transport = self.fake.transport()
            engine = transport
            self.open_streams = lambda: transport.open_streams
        else:
            engine = make_engine(
                backend=self.backend,
                transport="aiohttp" if self.door == "aiohttp" else "httpx",
                http_client=None,
                max_connections=10,
                keepalive_expiry=5.0,
                http2=False,
            )
            kwargs.setdefault("endpoint_url", self.url)
        try:
            yield s3_over(engine, credentials, region=kwargs.pop("region", REGION), **kwargs)
        finally:
            await engine.aclose()
        if self.open_streams is not None:
            assert self.open_streams() == 0  # every response was closed


@pytest.fixture(params=["in-process", "aiohttp", "httpx"])
def env(request: pytest.FixtureRequest, anyio_backend: str) -> Iterator[Env]:
    """A fresh FakeS3, reached in-process or over loopback through each HTTP engine."""
    door = str(request.param)
    if door == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp engine runs on asyncio only")
    fake = FakeS3(region=REGION)
    if door == "in-process":
        yield Env(fake, door, anyio_backend)
        return
    with fake.serve() as server:
        yield Env(fake, door, anyio_backend, url=server.url)


@pytest.fixture
def inproc(anyio_backend: str) -> Env:
    """A FakeS3 reached in-process with AWS host names (for redirects between S3 hosts)."""
    return Env(FakeS3(region=REGION), "in-process", anyio_backend)


def _scope_region(req: RecordedRequest) -> str:
    auth = req.header("authorization")
    assert auth is not None
    return auth.split("Credential=", 1)[1].split("/")[2]


def _signed_headers(req: RecordedRequest) -> str:
    auth = req.header("authorization")
    assert auth is not None
    return auth.split("SignedHeaders=", 1)[1].split(",", 1)[0]


def _xml_error(code: str, **extra: str) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in {"Code": code, **extra}.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


# ---------------------------------------------------------------------------------------------
# Round trips and the wire


async def test_put_get_head_round_trip(env: Env) -> None:
    """PUT stores the bytes and content type; GET returns them; HEAD the metadata only.

    PUT is signed over ``content-type;host;x-amz-content-sha256;x-amz-date`` with the body's
    SHA-256; GET/HEAD over ``host;x-amz-content-sha256;x-amz-date`` with the empty hash, and
    carry no Content-Type or Accept header (nothing the engines add on their own).
    """
    body = b'{"inputs": "hello"}'
    async with env.client() as s3:
        etag = await s3.put_object("bkt", "in/req.json", body, content_type="application/json")
        got = await s3.get_object("bkt", "in/req.json")
        head = await s3.head_object("bkt", "in/req.json")
    assert etag == '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
    assert env.fake.get("bkt", "in/req.json") == body
    assert (got.body, got.content_type, got.etag, got.content_length) == (
        body,
        "application/json",
        etag,
        len(body),
    )
    assert (got.bucket, got.key) == ("bkt", "in/req.json")
    assert got.headers["etag"] == etag  # case-insensitive
    assert head is not None
    assert (head.body, head.content_type, head.etag, head.content_length) == (
        b"",
        "application/json",
        etag,
        len(body),
    )
    put, get, hd = env.fake.requests
    assert [r.method for r in (put, get, hd)] == ["PUT", "GET", "HEAD"]
    assert all(r.path == env.base_path + "in/req.json" for r in (put, get, hd))
    assert _signed_headers(put) == "content-type;host;x-amz-content-sha256;x-amz-date"
    assert put.header("x-amz-content-sha256") == hashlib.sha256(body).hexdigest()
    assert put.header("content-length") == str(len(body))
    for req in (get, hd):
        assert _signed_headers(req) == "host;x-amz-content-sha256;x-amz-date"
        assert req.header("x-amz-content-sha256") == EMPTY_SHA256
        assert req.header("content-type") is None
        assert req.header("accept") is None
        assert req.header("accept-encoding") == "identity"
    assert "bkt" in repr(got) and "hello" not in repr(got)


@pytest.mark.parametrize(("key", "encoded"), KEYS, ids=KEY_IDS)
async def test_reserved_and_unicode_keys_go_out_as_signed(env: Env, key: str, encoded: str) -> None:
    """Keys with reserved, unicode, ``%`` and dot-segment characters round-trip on every door.

    The request target the server received is exactly the path that was signed (the fake
    verifies the signature over the raw target), and it is the key encoded once.
    """
    async with env.client() as s3:
        await s3.put_object("bkt", key, key.encode())
        got = await s3.get_object("bkt", key)
        assert await s3.head_object("bkt", key) is not None
    assert got.body == key.encode()
    assert env.fake.get("bkt", key) == key.encode()
    assert [r.path for r in env.fake.requests] == [env.base_path + encoded] * 3


async def test_addressing(inproc: Env) -> None:
    """DNS-safe buckets are virtual-hosted; dotted buckets and ``force_path_style`` path style."""
    async with inproc.client() as s3:
        await s3.put_object("bkt", "k", b"1")
        await s3.put_object("my.dotted.bucket", "k", b"2")
    async with inproc.client(force_path_style=True) as s3:
        await s3.put_object("bkt", "k2", b"3")
    hosts = [(r.header("host"), r.path) for r in inproc.fake.requests]
    assert hosts == [
        ("bkt.s3.us-east-1.amazonaws.com", "/k"),
        ("s3.us-east-1.amazonaws.com", "/my.dotted.bucket/k"),
        ("s3.us-east-1.amazonaws.com", "/bkt/k2"),
    ]
    assert inproc.fake.get("my.dotted.bucket", "k") == b"2"


async def test_empty_object(env: Env) -> None:
    """An empty PUT still carries ``Content-Length: 0`` (S3 answers 411 without it)."""
    async with env.client() as s3:
        await s3.put_object("bkt", "empty", b"")
        got = await s3.get_object("bkt", "empty")
    assert (got.body, got.content_length, got.content_type) == (b"", 0, "binary/octet-stream")
    put = env.fake.requests[0]
    assert put.header("content-length") == "0"
    assert put.header("x-amz-content-sha256") == EMPTY_SHA256


async def test_three_mib_object(env: Env) -> None:
    """A 3 MiB object goes up in slices with a fixed length and comes back intact.

    No chunked encoding, no ResourceWarning (warnings are errors; a collection runs inside
    the test so an unclosed socket would be reported here).
    """
    body = bytes(range(256)) * (3 * 4096) + b"tail"
    async with env.client() as s3:
        await s3.put_object("bkt", "big.bin", body)
        got = await s3.get_object("bkt", "big.bin")
    assert got.body == body
    put = env.fake.requests[0]
    assert put.header("content-length") == str(len(body))
    assert put.header("transfer-encoding") is None
    assert put.body == body
    gc.collect()


# ---------------------------------------------------------------------------------------------
# Missing objects and error answers


async def test_missing_key(env: Env) -> None:
    """404: HEAD gives None; GET raises S3Error NoSuchKey with S3's request id and the object."""
    async with env.client() as s3:
        assert await s3.head_object("bkt", "nope") is None
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "nope")
    err = caught.value
    assert (err.status_code, err.error_code, err.bucket, err.key) == (
        404,
        "NoSuchKey",
        "bkt",
        "nope",
    )
    assert err.message == "The specified key does not exist."
    assert err.request_id is not None and err.request_id == err.headers["x-amz-request-id"]
    assert b"<Code>NoSuchKey</Code>" in err.body
    assert not err.retryable
    assert "s3://bkt/nope" in str(err)


async def test_missing_key_as_access_denied(env: Env) -> None:
    """Without s3:ListBucket S3 answers 403: GET raises AccessDenied, HEAD raises ``"403"``.

    A HEAD error has no body, so only the status is known (botocore says ``"403"`` too).
    """
    env.fake.missing_as_403 = True
    async with env.client() as s3:
        with pytest.raises(S3Error) as got:
            await s3.get_object("bkt", "nope")
        with pytest.raises(S3Error) as head:
            await s3.head_object("bkt", "nope")
    assert (got.value.status_code, got.value.error_code) == (403, "AccessDenied")
    assert (head.value.status_code, head.value.error_code, head.value.message) == (
        403,
        "403",
        "Forbidden",
    )


NON_XML_BODIES = [
    pytest.param(b"<html><body>Bad Gateway</body></html>", id="html"),
    pytest.param(b"upstream connect error", id="text"),
    pytest.param(b"<Error><Code>Trunc", id="truncated-xml"),
    pytest.param(b"\xff\xfe<\x00E\x00", id="binary"),
    pytest.param(b"", id="empty"),
    pytest.param(
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<Error><Code>&b;</Code></Error>",
        id="dtd-entities",
    ),
    pytest.param(b"<NotAnError><Code>X</Code></NotAnError>", id="other-xml"),
]


@pytest.mark.parametrize("body", NON_XML_BODIES)
async def test_non_xml_error_body(env: Env, body: bytes) -> None:
    """An error body that is not S3's XML still gives S3Error, coded by its status.

    No ParseError escapes; a document with a DTD is never parsed (no entity expansion).
    """
    env.fake.queued.append(FakeResponse(502, [("Content-Type", "text/html")], body))
    async with env.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
    err = caught.value
    assert (err.status_code, err.error_code, err.message) == (502, "502", "Bad Gateway")
    assert err.body == body
    assert err.retryable


async def test_error_body_is_capped(inproc: Env) -> None:
    """An error body is read up to 64 KiB, never more."""
    body = _xml_error("InternalError", Message="x" * 200_000)
    inproc.fake.queued.append(FakeResponse(500, [], body))
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
    assert caught.value.body == body[: 64 * 1024]
    assert caught.value.error_code == "500"  # the cut document is no longer XML


async def test_request_id_from_xml_when_no_header(inproc: Env) -> None:
    """Without ``x-amz-request-id`` the ``<RequestId>`` of the document is used (moto does this)."""
    body = _xml_error("SlowDown", Message="Reduce your request rate.", RequestId="RID123")
    inproc.fake.queued.append(FakeResponse(503, [], body))
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.put_object("bkt", "k", b"1")
    err = caught.value
    assert (err.error_code, err.message, err.request_id) == (
        "SlowDown",
        "Reduce your request rate.",
        "RID123",
    )
    assert err.retryable


# ---------------------------------------------------------------------------------------------
# max_bytes


class _Body:
    """A streamed response body that remembers whether anyone started reading it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.started = False
        self.closed_with: list[bytes] | None = None

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        self.started = True
        if not self.chunks:
            raise StopAsyncIteration
        return self.chunks.pop(0)

    async def aclose(self) -> None:
        """What a closed socket does: nothing more arrives."""
        self.closed_with = list(self.chunks)
        self.chunks.clear()


async def test_max_bytes_refused_from_content_length(inproc: Env) -> None:
    """A Content-Length above ``max_bytes`` raises ObjectTooLarge before the body is read."""
    body = _Body([b"x" * 100])
    headers = [("Content-Length", "100"), ("x-amz-request-id", "R1")]
    inproc.fake.queued.append(FakeResponse(200, headers, body))
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k", max_bytes=99)
    assert (caught.value.error_code, caught.value.request_id) == ("ObjectTooLarge", "R1")
    assert not body.started


async def test_max_bytes_enforced_while_reading(inproc: Env) -> None:
    """Without a Content-Length the body is read only until it passes ``max_bytes``."""
    body = _Body([b"x" * 60, b"x" * 60, b"x" * 60])
    inproc.fake.queued.append(FakeResponse(200, [], body))
    async with inproc.client() as s3:
        with pytest.raises(S3Error, match="ObjectTooLarge"):
            await s3.get_object("bkt", "k", max_bytes=100)
    assert body.closed_with == [b"x" * 60]  # closed before the third chunk was pulled


async def test_max_bytes_at_the_limit(env: Env) -> None:
    """An object of exactly ``max_bytes`` is returned whole."""
    env.fake.put("bkt", "k", b"12345")
    async with env.client() as s3:
        assert (await s3.get_object("bkt", "k", max_bytes=5)).body == b"12345"
        with pytest.raises(S3Error, match="ObjectTooLarge"):
            await s3.get_object("bkt", "k", max_bytes=4)


# ---------------------------------------------------------------------------------------------
# The bucket's region


@pytest.mark.parametrize("first", ["GET", "HEAD", "PUT"])
async def test_wrong_region_redirect_retried_once_and_cached(env: Env, first: str) -> None:
    """301 PermanentRedirect + ``x-amz-bucket-region``: re-signed for that region, sent once more.

    The region is cached per bucket: the next call is signed for it straight away. HEAD (no
    body) relies on the header alone.
    """
    env.fake.wrong_region_for["euro"] = "eu-west-1"
    env.fake.put("euro", "k", b"data")
    async with env.client() as s3:
        if first == "GET":
            assert (await s3.get_object("euro", "k")).body == b"data"
        elif first == "HEAD":
            assert await s3.head_object("euro", "k") is not None
        else:
            await s3.put_object("euro", "k", b"data")
        assert s3.bucket_region("euro") == "eu-west-1"
        assert s3.bucket_region("other") == REGION
        assert (await s3.get_object("euro", "k")).body == b"data"
    regions = [_scope_region(r) for r in env.fake.requests]
    assert regions == [REGION, "eu-west-1", "eu-west-1"]


async def test_wrong_region_hint_from_xml(env: Env) -> None:
    """400 AuthorizationHeaderMalformed with only ``<Region>`` in the XML is a hint too."""
    env.fake.wrong_region_for["euro"] = "eu-central-1"
    env.fake.wrong_region_style = "malformed"
    env.fake.put("euro", "k", b"data")
    async with env.client() as s3:
        assert (await s3.get_object("euro", "k")).body == b"data"
    assert [_scope_region(r) for r in env.fake.requests] == [REGION, "eu-central-1"]


async def test_region_hint_followed_only_once(inproc: Env) -> None:
    """A second wrong-region answer is raised, not chased: at most one region retry."""
    for region in ("eu-west-1", "eu-west-2"):
        inproc.fake.queued.append(
            FakeResponse(
                301,
                [("x-amz-bucket-region", region)],
                _xml_error("PermanentRedirect", Message="moved"),
            )
        )
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
    err = caught.value
    assert (err.status_code, err.error_code, err.bucket_region) == (
        301,
        "PermanentRedirect",
        "eu-west-2",
    )
    assert [_scope_region(r) for r in inproc.fake.requests] == [REGION, "eu-west-1"]


@pytest.mark.parametrize(
    "hint", ["cn-north-1", "us-gov-west-1", "evil.example.com", "EU-WEST-1", "us-east-1"]
)
async def test_unusable_region_hint_not_followed(inproc: Env, hint: str) -> None:
    """A hint in another partition, not a DNS label, or the region just used: no retry."""
    inproc.fake.queued.append(
        FakeResponse(301, [("x-amz-bucket-region", hint)], _xml_error("PermanentRedirect"))
    )
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
        assert s3.bucket_region("bkt") == REGION
    assert caught.value.status_code == 301
    assert len(inproc.fake.requests) == 1


async def test_other_400_with_region_header_not_retried(inproc: Env) -> None:
    """A 400 that is not a region error is raised even if it carries ``x-amz-bucket-region``."""
    inproc.fake.queued.append(
        FakeResponse(400, [("x-amz-bucket-region", "eu-west-1")], _xml_error("InvalidArgument"))
    )
    async with inproc.client() as s3:
        with pytest.raises(S3Error, match="InvalidArgument"):
            await s3.get_object("bkt", "k")
    assert len(inproc.fake.requests) == 1


# ---------------------------------------------------------------------------------------------
# 307 TemporaryRedirect


async def test_temporary_redirect_followed_to_s3_host_of_same_partition(inproc: Env) -> None:
    """A 307 to the bucket's S3 host in the same partition is followed once, re-signed there.

    The signing region comes from the new host; a temporary redirect is not cached.
    """
    home = "bkt.s3.us-west-2.amazonaws.com"
    inproc.fake.redirect_307_for["bkt"] = home
    inproc.fake.wrong_region_for["bkt"] = "us-west-2"
    inproc.fake.put("bkt", "a b/k", b"here")
    async with inproc.client() as s3:
        assert (await s3.get_object("bkt", "a b/k")).body == b"here"
        assert s3.bucket_region("bkt") == REGION
    first, second = inproc.fake.requests
    assert first.header("host") == "bkt.s3.us-east-1.amazonaws.com"
    assert second.header("host") == home
    assert second.path == "/a%20b/k"
    assert _scope_region(second) == "us-west-2"


LOCATIONS = [
    pytest.param("https://evil.example.com/k", id="foreign-host"),
    pytest.param("https://bkt.s3.us-west-2.amazonaws.com.evil.example/k", id="suffix-trick"),
    pytest.param("https://other.s3.us-west-2.amazonaws.com/k", id="other-bucket"),
    pytest.param("http://bkt.s3.us-west-2.amazonaws.com/k", id="plain-http"),
    pytest.param("https://bkt.s3.us-west-2.amazonaws.com:8443/k", id="odd-port"),
    pytest.param("https://u:p@bkt.s3.us-west-2.amazonaws.com/k", id="userinfo"),
    pytest.param("https://bkt.s3.cn-north-1.amazonaws.com.cn/k", id="other-partition"),
    pytest.param("/relative/k", id="relative"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("location", LOCATIONS)
async def test_temporary_redirect_elsewhere_not_followed(inproc: Env, location: str) -> None:
    """A 307 anywhere but an S3 host of our partition, for the same bucket, is never followed."""
    inproc.fake.queued.append(
        FakeResponse(307, [("Location", location)], _xml_error("TemporaryRedirect"))
    )
    async with inproc.client() as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
    assert (caught.value.status_code, caught.value.error_code) == (307, "TemporaryRedirect")
    assert len(inproc.fake.requests) == 1


async def test_temporary_redirect_not_followed_with_custom_endpoint(env: Env) -> None:
    """With a custom endpoint (or on loopback) a 307 to AWS is not followed either."""
    env.fake.queued.append(
        FakeResponse(
            307,
            [("Location", "https://bkt.s3.us-east-1.amazonaws.com/k")],
            _xml_error("TemporaryRedirect"),
        )
    )
    async with env.client(endpoint_url=env.url or "http://s3.fake") as s3:
        with pytest.raises(S3Error, match="TemporaryRedirect"):
            await s3.get_object("bkt", "k")
    assert len(env.fake.requests) == 1


# ---------------------------------------------------------------------------------------------
# Credentials


async def test_session_token_is_signed(env: Env) -> None:
    """Temporary credentials: ``x-amz-security-token`` is sent and signed; a wrong one fails."""
    env.fake.credentials = TOKEN_CREDENTIALS
    async with env.client(TOKEN_CREDENTIALS) as s3:
        await s3.put_object("bkt", "k", b"1", content_type="text/plain")
        assert (await s3.get_object("bkt", "k")).body == b"1"
    put = env.fake.requests[0]
    assert put.header("x-amz-security-token") == TOKEN_CREDENTIALS.session_token
    assert _signed_headers(put) == (
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    )
    wrong = Credentials(
        TOKEN_CREDENTIALS.access_key_id, TOKEN_CREDENTIALS.secret_access_key, "other-token"
    )
    async with env.client(wrong) as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "k")
    assert (caught.value.status_code, caught.value.error_code) == (403, "InvalidToken")
    assert "other-token" not in str(caught.value)


async def test_bad_secret_is_signature_mismatch_without_leaking(env: Env) -> None:
    """A wrong secret gives SignatureDoesNotMatch; neither secret appears in the message."""
    bad = Credentials(TEST_CREDENTIALS.access_key_id, "not/the/secret/key/000000000000000000000")
    async with env.client(bad) as s3:
        with pytest.raises(S3Error) as caught:
            await s3.put_object("bkt", "k", b"1")
    err = caught.value
    assert (err.status_code, err.error_code) == (403, "SignatureDoesNotMatch")
    for secret in (bad.secret_access_key, TEST_CREDENTIALS.secret_access_key):
        assert secret not in str(err) and secret not in repr(err)
    assert env.fake.get("bkt", "k") is None


# ---------------------------------------------------------------------------------------------
# Differential: botocore's S3 signer recomputes our Authorization


def _botocore_s3_authorization(req: RecordedRequest, credentials: Credentials) -> str:
    """botocore's ``S3SigV4Auth`` over the request as received, clock frozen at its date."""
    unsigned = {"authorization", "content-length", "user-agent", "accept-encoding", "host"}
    unsigned |= {"amz-sdk-invocation-id", "amz-sdk-request"}
    headers = {k: v for k, v in req.headers if k.lower() not in unsigned}
    host, amz_date = req.header("host"), req.header("x-amz-date")
    assert host is not None and amz_date is not None
    aws_request = botocore.awsrequest.AWSRequest(
        method=req.method, url=f"https://{host}{req.path}", headers=headers, data=req.body
    )
    when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    signer = botocore.auth.S3SigV4Auth(
        botocore.credentials.Credentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        ),
        "s3",
        REGION,
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(aws_request)
    return str(aws_request.headers["Authorization"])


@pytest.mark.parametrize(
    "credentials", [TEST_CREDENTIALS, TOKEN_CREDENTIALS], ids=["keys", "token"]
)
@pytest.mark.parametrize(("key", "encoded"), KEYS, ids=KEY_IDS)
async def test_botocore_s3_signer_agrees(
    inproc: Env, key: str, encoded: str, credentials: Credentials
) -> None:
    """For PUT, GET and HEAD of every tricky key botocore's S3 signer computes our Authorization.

    The path is botocore's own key encoding (``percent_encode(key, safe="/~")``) except for
    dot segments, which we escape on purpose (module docstring).
    """
    inproc.fake.credentials = credentials
    async with inproc.client(credentials) as s3:
        await s3.put_object("bkt", key, b"payload \x00\xff", content_type="text/plain; charset=x")
        await s3.get_object("bkt", key)
        await s3.head_object("bkt", key)
    botocore_path = "/" + quote(key.encode(), safe="/~")
    for req in inproc.fake.requests:
        assert req.path == "/" + encoded
        if not {".", ".."} & set(key.split("/")):
            assert req.path == botocore_path
        assert req.header("authorization") == _botocore_s3_authorization(req, credentials)


# ---------------------------------------------------------------------------------------------
# The trap this engine works around


async def test_the_aiohttp_engine_sends_the_signed_path_byte_for_byte(
    anyio_backend: str,
) -> None:
    """yarl re-quotes a URL given as text (``%3D`` → ``=``, ``%2A`` → ``*``) after we signed it,
    and S3 would reject the signature (STYLE.md §8); the aiohttp engine hands it over encoded."""
    if anyio_backend != "asyncio":
        pytest.skip("aiohttp runs on asyncio only")
    import yarl

    assert yarl.URL("http://h/bkt/k%3Dv%2Aw").raw_path == "/bkt/k=v*w"  # the trap
    fake = FakeS3(region=REGION)
    with fake.serve() as server:
        engine = make_engine(
            backend="asyncio",
            transport="aiohttp",
            http_client=None,
            max_connections=2,
            keepalive_expiry=5.0,
            http2=False,
        )
        s3 = s3_over(engine, TEST_CREDENTIALS, region=REGION, endpoint_url=server.url)
        try:
            await s3.put_object("bkt", "k=v*w", b"1")
            assert (await s3.get_object("bkt", "k=v*w")).body == b"1"
        finally:
            await engine.aclose()
    assert fake.requests[0].path == "/bkt/k%3Dv%2Aw"


# ---------------------------------------------------------------------------------------------
# moto's S3, with IAM authentication on: it recomputes every signature with botocore


MOTO_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@dataclass
class Moto:
    """The moto server, an IAM user's keys, and boto3 signing with the same keys."""

    url: str
    credentials: Credentials
    boto: Any


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    """moto on loopback with buckets ``bkt`` and ``euro`` (eu-west-1); IAM auth switched on.

    moto's auth switch is process-global; it is switched off again on teardown.
    """
    with moto_server("AKIAMOTOSETUP0000001", "moto/setup/secret") as url:
        try:
            httpx.post(f"{url}/moto-api/reset", trust_env=False).raise_for_status()
            iam = boto3.client("iam", region_name=REGION, endpoint_url=url)
            iam.create_user(UserName="sagemaker-rt-async")
            iam.put_user_policy(
                UserName="sagemaker-rt-async",
                PolicyName="s3",
                PolicyDocument=json.dumps(MOTO_POLICY),
            )
            key = iam.create_access_key(UserName="sagemaker-rt-async")["AccessKey"]
            creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
            setup = boto3.client("s3", region_name=REGION, endpoint_url=url)
            setup.create_bucket(Bucket="bkt")
            setup.create_bucket(
                Bucket="euro", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            # From here on every request must be signed by the IAM user's keys.
            httpx.post(f"{url}/moto-api/reset-auth", content=b"0", trust_env=False)
            boto = boto3.client(
                "s3",
                region_name=REGION,
                endpoint_url=url,
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
            )
            yield Moto(url, creds, boto)
        finally:
            httpx.post(f"{url}/moto-api/reset-auth", content=b"inf", trust_env=False)


@contextlib.asynccontextmanager
async def _moto_client(
    moto: Moto, transport: str, backend: str, credentials: Credentials | None = None
) -> AsyncIterator[S3Client]:
    engine = make_engine(
        backend=backend,
        transport="aiohttp" if transport == "aiohttp" else "httpx",
        http_client=None,
        max_connections=4,
        keepalive_expiry=5.0,
        http2=False,
    )
    try:
        yield s3_over(engine, credentials or moto.credentials, region=REGION, endpoint_url=moto.url)
    finally:
        await engine.aclose()


async def test_moto_round_trip_of_tricky_keys(
    moto: Moto, transport: str, anyio_backend: str
) -> None:
    """moto accepts our S3 signature for every tricky key, and stores the key boto3 names.

    What we PUT boto3 GETs under the same key, and what boto3 PUTs we GET and HEAD.
    """
    async with _moto_client(moto, transport, anyio_backend) as s3:
        for key, _ in KEYS:
            mine = f"{transport}/{anyio_backend}/{key}"
            body = f"ours {key}".encode()
            etag = await s3.put_object("bkt", mine, body, content_type="text/plain")
            got = moto.boto.get_object(Bucket="bkt", Key=mine)
            assert got["Body"].read() == body
            assert got["ETag"] == etag
            assert got["ContentType"] == "text/plain"

            theirs = f"boto3/{transport}/{anyio_backend}/{key}"
            moto.boto.put_object(Bucket="bkt", Key=theirs, Body=b"theirs", ContentType="a/b")
            obj = await s3.get_object("bkt", theirs)
            assert (obj.body, obj.content_type) == (b"theirs", "a/b")
            head = await s3.head_object("bkt", theirs)
            assert head is not None and head.content_length == len(b"theirs")


async def test_moto_missing_and_errors(moto: Moto, transport: str, anyio_backend: str) -> None:
    """moto: missing key → None / NoSuchKey; missing bucket → NoSuchBucket; bad secret refused."""
    async with _moto_client(moto, transport, anyio_backend) as s3:
        assert await s3.head_object("bkt", "missing/key") is None
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "missing/key")
        assert (caught.value.status_code, caught.value.error_code) == (404, "NoSuchKey")
        assert caught.value.request_id  # moto puts it in the XML only
        with pytest.raises(S3Error) as caught:
            await s3.get_object("no-such-bucket", "k")
        assert caught.value.error_code == "NoSuchBucket"
    bad = Credentials(moto.credentials.access_key_id, "wrong/secret")
    async with _moto_client(moto, transport, anyio_backend, bad) as s3:
        with pytest.raises(S3Error) as caught:
            await s3.get_object("bkt", "missing/key")
    assert (caught.value.status_code, caught.value.error_code) == (403, "SignatureDoesNotMatch")


async def test_moto_large_object(moto: Moto, transport: str, anyio_backend: str) -> None:
    """A 3 MiB object through moto: sliced upload, signed hash, intact download."""
    body = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32) + b"!"
    key = f"big/{transport}/{anyio_backend}.bin"
    async with _moto_client(moto, transport, anyio_backend) as s3:
        await s3.put_object("bkt", key, body)
        assert (await s3.get_object("bkt", key)).body == body
    gc.collect()
