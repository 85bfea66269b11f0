"""boto3 and moto as oracles for InvokeEndpointAsync (spec §2.4, §8).

Three sides:

* request: boto3 (sync, on a worker thread) and our client call the same loopback
  ``FakeSageMakerRuntime`` with the same arguments; the fake records both requests as received.
  Method, path, body, header names and values are equal but for the per-request
  ``x-amz-date``/``authorization`` values and the unsigned telemetry headers; ``SignedHeaders=``
  is equal, and botocore's ``SigV4Auth`` frozen at our ``X-Amz-Date`` recomputes our
  ``Authorization`` (``_oracles.assert_same_request`` / ``botocore_authorization``). The table
  sets every input member of botocore's model for the operation.
* response: for the same 2xx answer, boto3's parsed ``InferenceId`` / ``OutputLocation`` /
  ``FailureLocation`` equal our job's ``inference_id`` / ``output_location`` /
  ``failure_location`` (and the request id).
* moto peer: our ``upload_input`` lands in moto's S3 (boto3 reads back the same bytes), moto
  answers our ``invoke_endpoint_async`` by that location, and ``job.result()`` reads moto's
  queued result from moto's S3; ``upload_to`` stages a large body there and sends its location.

Keyword ↔ member naming (the coverage test pins it): our ``body`` / ``input_location`` are
botocore's ``Body`` / ``InputLocation``. Two of our keywords have no member of their own:
``json=`` is serialised (compact UTF-8) into ``Body`` with ``ContentType`` defaulting to
``application/json``; ``upload_to=`` uploads a body over 128,000 bytes to S3 and sends
``InputLocation`` instead. ``timeout=`` only sets transport deadlines.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import boto3
import botocore.exceptions
import botocore.session
import httpx
import pytest
from _oracles import (
    EVERY_MEMBER,
    REGION,
    TOKEN_CREDENTIALS,
    Call,
    Peer,
    RecordingFake,
    assert_same_request,
    boto3_client,
    botocore_authorization,
    compact_json,
    members_of,
)
from botocore.config import Config

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeResponse, RecordedRequest

OPERATION = "InvokeEndpointAsync"
ASYNC_EP = "echo"  # Call's default endpoint
NO_FAILURE_PATH_EP = "async-no-failure-path"
OUT = "s3://results-bucket/async/out"
FAIL = "s3://results-bucket/async/failures"
MAX_ASYNC_BODY = 128_000  # spec §2.4: decimal, not 131,072


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test here runs on asyncio and on trio."""
    return str(request.param)


# ---------------------------------------------------------------------------------------------
# The peers: a served fake per credential set, answering SageMaker and (by signing scope) S3.


class AsyncFake(RecordingFake):
    """The recording fake, also keeping each SageMaker response it sent (not S3's).

    ``script``: 2xx answers to send instead of the fake's own, one per request, so that boto3
    and our client can be handed byte-identical answers (the fake otherwise generates a fresh
    InferenceId per request).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[FakeResponse] = []
        self.script: deque[FakeResponse] = deque()

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        recorded = len(self.requests)
        response = await super().handle(method, target, headers, body)
        if len(self.requests) == recorded:  # an S3 request: routed to self.s3, not recorded
            return response
        if self.script and 200 <= response.status < 300:
            response = self.script.popleft()
        self.sent.append(response)
        return response


def _reset(p: Peer) -> AsyncFake:
    p.reset()
    fake = p.fake
    assert isinstance(fake, AsyncFake)
    fake.sent.clear()
    fake.script.clear()
    return fake


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[bool, Peer]]:
    """Two served fakes with async endpoints, keyed by "uses a session token".

    Jobs are due an hour after submission, so no S3 request of a test runs a queued job (an
    input location the fake cannot parse must not break an unrelated upload).
    """
    with ExitStack() as stack:
        out: dict[bool, Peer] = {}
        for with_token, creds in ((False, TEST_CREDENTIALS), (True, TOKEN_CREDENTIALS)):
            fake = AsyncFake(credentials=creds)
            fake.add_endpoint(
                ASYNC_EP, async_output_path=OUT, async_failure_path=FAIL, processing_time=3600
            )
            fake.add_endpoint(NO_FAILURE_PATH_EP, async_output_path=OUT, processing_time=3600)
            server = stack.enter_context(fake.serve())
            boto = boto3_client(server.url, creds)
            stack.callback(boto.close)
            out[with_token] = Peer(fake, server.url, creds, boto)
        yield out


@pytest.fixture
def peer(peers: dict[bool, Peer]) -> Peer:
    """The token-less peer, with its recordings cleared."""
    p = peers[False]
    _reset(p)
    return p


async def _boto_async(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    """boto3's InvokeEndpointAsync on a worker thread."""

    def call() -> dict[str, Any]:
        response: dict[str, Any] = client.invoke_endpoint_async(**args)
        return response

    return await anyio.to_thread.run_sync(call)


async def _boto_error(client: Any, args: dict[str, Any]) -> Any:
    """boto3's InvokeEndpointAsync expecting a ClientError; returns it."""

    def call() -> Any:
        try:
            client.invoke_endpoint_async(**args)
        except botocore.exceptions.ClientError as exc:
            return exc
        raise AssertionError("boto3 did not raise")

    return await anyio.to_thread.run_sync(call)


# ---------------------------------------------------------------------------------------------
# Request side


# Our keyword -> botocore's member (the service model's names, spec §2.4).
# Our keywords that are no member of their own (a case using them spells out boto3's side).
NOT_A_MEMBER = {
    "json": "serialised into Body; ContentType defaults to application/json",
    "upload_to": "a body over 128,000 bytes is uploaded there and sent as InputLocation",
    "timeout": "transport deadlines only; nothing on the wire",
    "retry": "the attempt policy; only amz-sdk-request (telemetry) shows it",
}


IN = "s3://in-bucket/x/req.json"
JSON_VALUE = {"inputs": "héllo ☃ 🦀", "n": [1, 2.5, None, True], "nested": {"k": "\u00a0"}}
BIG_JSON = {"pad": "x" * 200_000}
# The largest JSON value whose compact form is exactly the inline limit.
JSON_AT_LIMIT = {"p": "x" * (MAX_ASYNC_BODY - len(b'{"p":""}'))}

REQUEST_CASES = [
    pytest.param(Call({"input_location": IN}), id="input-location-s3"),
    pytest.param(
        Call({"input_location": "https://in-bucket.s3.us-east-1.amazonaws.com/x/a%20b.json"}),
        id="input-location-https",
    ),
    pytest.param(
        Call({"input_location": "s3://in-bucket/x/req 1+a=b.json"}),
        id="input-location-space-plus-equals",
    ),
    pytest.param(Call({"input_location": "s3://in-bucket"}), id="input-location-bucket-only"),
    pytest.param(
        Call({"body": b'{"inputs":"x"}', "content_type": "application/json"}),
        id="inline-body-content-type-in-sagemaker-header",
    ),
    pytest.param(Call({"body": bytes(range(256))}), id="inline-body-all-256-bytes-no-type"),
    pytest.param(
        Call({"body": "héllo wörld ☃ 🦀\u00a0", "content_type": "text/plain; charset=utf-8"}),
        id="str-body-non-ascii-utf8",
    ),
    pytest.param(Call({"body": bytearray(b"\x00bytearray\xff")}), id="bytearray-body"),
    pytest.param(Call({"body": memoryview(b"memoryview body")}), id="memoryview-body"),
    pytest.param(
        Call(
            {"json": JSON_VALUE},
            boto_override={"Body": compact_json(JSON_VALUE), "ContentType": "application/json"},
        ),
        id="json-keyword",
    ),
    pytest.param(
        Call(
            {"json": [1, "two"], "content_type": "application/vnd.custom+json"},
            boto_override={"Body": b'[1,"two"]', "ContentType": "application/vnd.custom+json"},
        ),
        id="json-keyword-explicit-content-type",
    ),
    pytest.param(
        Call({"input_location": IN, "accept": "application/json, text/csv;q=0.5"}),
        id="accept-in-sagemaker-header",
    ),
    pytest.param(
        Call({"input_location": IN, "custom_attributes": "trace=abc, model version=2,k=v=w"}),
        id="custom-attributes",
    ),
    pytest.param(
        Call({"input_location": IN, "custom_attributes": ""}), id="custom-attributes-empty"
    ),
    pytest.param(
        Call({"input_location": IN, "custom_attributes": "  a=1,   b=2  "}),
        id="custom-attributes-edge-and-inner-whitespace",
    ),
    pytest.param(
        Call({"input_location": IN, "inference_id": "id:1 with spaces&symbols~!"}),
        id="inference-id-printable",
    ),
    pytest.param(
        Call({"input_location": IN, "inference_id": "id-1 "}), id="inference-id-trailing-space"
    ),
    pytest.param(
        Call({"body": b"a,b", "content_type": " text/csv ", "accept": "\ttext/csv"}),
        id="content-type-and-accept-edge-whitespace",
    ),
    pytest.param(
        Call({"input_location": IN, "request_ttl_seconds": 60, "invocation_timeout_seconds": 1}),
        id="ttl-and-timeout-minimums",
    ),
    pytest.param(
        Call(
            {
                "input_location": IN,
                "request_ttl_seconds": 21_600,
                "invocation_timeout_seconds": 3_600,
            }
        ),
        id="ttl-and-timeout-maximums",
    ),
    pytest.param(
        Call({"input_location": IN, "s3_output_path_extension": "a/b_c.d!*'()-"}),
        id="s3-output-path-extension",
    ),
    pytest.param(Call({"input_location": IN, "filename": "out-1.json"}), id="filename"),
    pytest.param(
        Call({"input_location": IN, **EVERY_MEMBER["InvokeEndpointAsync"]}),
        id="every-member-by-location",
    ),
    pytest.param(
        Call(
            {"body": b'{"x":1}', **EVERY_MEMBER["InvokeEndpointAsync"], "timeout": 30, "retry": 1}
        ),
        id="every-member-inline",
    ),
    pytest.param(
        Call({"input_location": IN, "inference_id": "tok-1"}, session_token=True),
        id="session-token-by-location",
    ),
    pytest.param(
        Call({"body": b'{"x":1}', "content_type": "application/json"}, session_token=True),
        id="session-token-inline",
    ),
    pytest.param(
        Call({"body": b"a" * MAX_ASYNC_BODY, "content_type": "text/plain"}),
        id="body-at-128000-limit",
    ),
    pytest.param(
        Call(
            {"json": JSON_AT_LIMIT, "upload_to": "s3://in-bucket/staging/"},
            boto_override={"Body": compact_json(JSON_AT_LIMIT), "ContentType": "application/json"},
        ),
        id="json-at-128000-limit-stays-inline-despite-upload-to",
    ),
    pytest.param(
        Call(
            {"body": b"small", "upload_to": "s3://in-bucket/staging/"},
            boto_override={"Body": b"small"},
        ),
        id="upload-to-small-body-stays-inline",
    ),
    pytest.param(
        Call(
            {"json": BIG_JSON, "upload_to": "s3://in-bucket/staging/", "inference_id": "big-1"},
            boto_override={
                "InputLocation": "s3://in-bucket/staging/big-1.input",
                "InferenceId": "big-1",
                "ContentType": "application/json",
            },
        ),
        id="upload-to-large-json-sent-by-location",
    ),
    pytest.param(
        Call(
            {
                "body": b"b" * (MAX_ASYNC_BODY + 1),
                "upload_to": "s3://in-bucket/edge",
                "inference_id": "edge-1",
                "content_type": "text/plain",
            },
            boto_override={
                "InputLocation": "s3://in-bucket/edge/edge-1.input",
                "InferenceId": "edge-1",
                "ContentType": "text/plain",
            },
        ),
        id="upload-to-one-byte-over-limit-prefix-without-slash",
    ),
    pytest.param(Call({"input_location": IN}, endpoint="e" + "-1" * 31), id="endpoint-name-63"),
    pytest.param(Call({"body": b""}, rejected=True), id="empty-body-refused-by-the-service"),
]


async def _exchange(p: Peer, call: Call, transport: str) -> tuple[RecordedRequest, RecordedRequest]:
    """boto3's call, then ours: (boto3's request, ours) as the fake received them."""
    fake = _reset(p)
    if call.endpoint not in (ASYNC_EP, NO_FAILURE_PATH_EP):
        fake.add_endpoint(call.endpoint, async_output_path=OUT, processing_time=3600)
    async with fake.client(endpoint_url=p.url, transport=transport) as rt:
        if call.rejected:
            theirs_error = await _boto_error(p.boto, call.boto_args())
            assert theirs_error.response["Error"]["Code"] == "ValidationError"
            with pytest.raises(sm.ValidationError):
                await rt.invoke_endpoint_async(call.endpoint, **call.ours)
        elif "upload_to" in call.ours and "InputLocation" in call.boto_args():
            # The staged key is unique per call: ours goes first, boto3 gets the same location.
            await rt.invoke_endpoint_async(call.endpoint, **call.ours)
            location = fake.requests[-1].header("x-amzn-sagemaker-inputlocation") or ""
            prefix = str(call.ours["upload_to"]).rstrip("/") + "/"
            assert location.startswith(prefix) and location.endswith(".input"), location
            await _boto_async(p.boto, {**call.boto_args(), "InputLocation": location})
            ours, theirs = fake.requests
            return theirs, ours
        else:
            await _boto_async(p.boto, call.boto_args())
            await rt.invoke_endpoint_async(call.endpoint, **call.ours)
    theirs, ours = fake.requests
    return theirs, ours


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_request_matches_boto3(call: Call, peers: dict[bool, Peer], transport: str) -> None:
    """Same arguments → same method, path, body, headers and signed headers as boto3."""
    p = peers[call.session_token]
    theirs, ours = await _exchange(p, call, transport)
    assert_same_request(ours, theirs, p.credentials)
    assert ours.path.endswith("/async-invocations")


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_botocore_recomputes_our_signature(
    call: Call, peers: dict[bool, Peer], transport: str
) -> None:
    """botocore's SigV4Auth at our X-Amz-Date reproduces our Authorization header exactly.

    The same re-signing of boto3's own request reproduces boto3's header (the oracle rebuilds
    the request as it stood at signing time).
    """
    p = peers[call.session_token]
    theirs, ours = await _exchange(p, call, transport)
    assert botocore_authorization(theirs, p.credentials) == theirs.header("authorization")
    assert botocore_authorization(ours, p.credentials) == ours.header("authorization")


@pytest.mark.anyio
async def test_wire_details_boto3_shows(peer: Peer, transport: str) -> None:
    """What the differential relies on, stated on boto3's own requests (spec §2.4).

    Inline body: no Content-Type at all, the type in X-Amzn-SageMaker-Content-Type, Accept in
    X-Amzn-SageMaker-Accept, integers in decimal. By location: empty body, Content-Length 0.
    Ours agrees on each.
    """
    inline = Call(
        {
            "body": b'{"x":1}',
            "content_type": "application/json",
            "accept": "text/csv",
            "request_ttl_seconds": 60,
            "invocation_timeout_seconds": 3600,
        }
    )
    for req in await _exchange(peer, inline, transport):
        assert req.header("content-type") is None
        assert req.header("accept") is None
        assert req.header("x-amzn-sagemaker-content-type") == "application/json"
        assert req.header("x-amzn-sagemaker-accept") == "text/csv"
        assert req.header("x-amzn-sagemaker-requestttlseconds") == "60"
        assert req.header("x-amzn-sagemaker-invocationtimeoutseconds") == "3600"
        assert req.header("x-amzn-sagemaker-inputlocation") is None
        assert req.body == b'{"x":1}'
    for req in await _exchange(peer, Call({"input_location": IN}), transport):
        assert req.body == b""
        assert req.header("content-length") == "0"
        assert req.header("content-type") is None
        assert req.header("x-amzn-sagemaker-inputlocation") == IN


@pytest.mark.anyio
async def test_upload_to_puts_the_payload_where_the_request_points(
    peer: Peer, transport: str
) -> None:
    """A large body sent with upload_to is in the fake's S3 at the InputLocation we sent."""
    fake = _reset(peer)
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        await rt.invoke_endpoint_async(ASYNC_EP, json=BIG_JSON, upload_to="s3://in-bucket/staging/")
    (sent,) = fake.requests
    location = sent.header("x-amzn-sagemaker-inputlocation")
    assert location is not None and location.startswith("s3://in-bucket/staging/")
    stored = fake.s3.get("in-bucket", location.removeprefix("s3://in-bucket/"))
    assert stored == compact_json(BIG_JSON)
    assert sent.body == b""


def test_cases_cover_every_invoke_endpoint_async_member() -> None:
    """The table sets every InvokeEndpointAsync input member of botocore's model, and uses
    every keyword of ours; each keyword is a member or a documented non-member."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    members = set(model.operation_model(OPERATION).input_shape.members)
    used_members: set[str] = set()
    used_keywords: set[str] = set()
    for param in REQUEST_CASES:
        call = param.values[0]
        assert isinstance(call, Call)
        used_members |= set(call.boto_args())
        used_keywords |= set(call.ours)
    assert used_members == members
    assert members == {"EndpointName", *members_of("InvokeEndpointAsync").values()}
    signature = inspect.signature(sm.SageMakerRuntimeClient.invoke_endpoint_async)
    keywords = set(signature.parameters) - {"self", "endpoint_name"}
    assert keywords == set(members_of("InvokeEndpointAsync")) | set(NOT_A_MEMBER)
    assert used_keywords == keywords


# ---------------------------------------------------------------------------------------------
# Response side


def _parsed(response: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """boto3's parsed members in our job's order (absent → None)."""
    return (
        response.get("InferenceId"),
        response.get("OutputLocation"),
        response.get("FailureLocation"),
        response["ResponseMetadata"].get("RequestId"),
    )


def _job(job: Any) -> tuple[Any, Any, Any, Any]:
    return (job.inference_id, job.output_location, job.failure_location, job.request_id)


def _as_sent(response: FakeResponse) -> tuple[Any, Any, Any, Any]:
    """What the fake answered, read straight off the wire (spec §2.4)."""
    headers = {k.lower(): v for k, v in response.headers}
    assert isinstance(response.body, bytes)
    return (
        json.loads(response.body).get("InferenceId"),
        headers.get("x-amzn-sagemaker-outputlocation"),
        headers.get("x-amzn-sagemaker-failurelocation"),
        headers.get("x-amzn-requestid"),
    )


FAKE_ANSWER_CASES = [
    pytest.param(ASYNC_EP, {"inference_id": "client-id-1"}, id="client-inference-id"),
    pytest.param(ASYNC_EP, {}, id="service-generated-inference-id"),
    pytest.param(
        ASYNC_EP,
        {"inference_id": "c-2", "s3_output_path_extension": "batch/7", "filename": "r.json"},
        id="extension-and-filename",
    ),
    pytest.param(NO_FAILURE_PATH_EP, {"inference_id": "c-3"}, id="no-failure-path"),
    pytest.param(NO_FAILURE_PATH_EP, {}, id="no-failure-path-generated-id"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("endpoint", "kwargs"), FAKE_ANSWER_CASES)
async def test_response_matches_boto3(
    endpoint: str, kwargs: dict[str, Any], peer: Peer, transport: str
) -> None:
    """boto3's InferenceId / OutputLocation / FailureLocation / RequestId equal our job's.

    Each side's parse equals the answer the fake sent it; with a client-provided InferenceId the
    answers are the same and so are the parses. (Without one the fake draws a fresh id per
    request, as the service does.)
    """
    fake = _reset(peer)
    boto_args = Call({"input_location": IN, **kwargs}, endpoint=endpoint).boto_args()
    theirs = _parsed(await _boto_async(peer.boto, boto_args))
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        job = await rt.invoke_endpoint_async(endpoint, input_location=IN, **kwargs)
    ours = _job(job)
    sent_theirs, sent_ours = (_as_sent(r) for r in fake.sent)
    assert theirs == sent_theirs
    assert ours == sent_ours
    if "inference_id" in kwargs:
        assert ours[:3] == theirs[:3]
        assert job.inference_id == kwargs["inference_id"]
    if endpoint == NO_FAILURE_PATH_EP:
        assert theirs[2] is None and job.failure_location is None


def _latin1(text: str) -> str:
    """``text``'s UTF-8 bytes, spelled as the str the fake's server writes byte for byte."""
    return text.encode().decode("latin-1")


def _answer(
    body: bytes,
    *,
    status: int = 202,
    output: str | None = f"{OUT}/scripted.out",
    failure: str | None = f"{FAIL}/scripted-error.out",
    extra: Sequence[tuple[str, str]] = (),
) -> FakeResponse:
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", "req-scripted-1")]
    if output is not None:
        headers.append(("X-Amzn-SageMaker-OutputLocation", output))
    if failure is not None:
        headers.append(("X-Amzn-SageMaker-FailureLocation", failure))
    headers.extend(extra)
    return FakeResponse(status, headers, body)


SCRIPTED_CASES = [
    pytest.param(_answer(b'{"InferenceId":"svc-1"}'), id="plain-202"),
    pytest.param(_answer(b'{"InferenceId":"svc-2"}', status=200), id="status-200"),
    pytest.param(_answer(b'{"InferenceId":"svc-3"}', failure=None), id="no-failure-location"),
    pytest.param(
        _answer(
            b'{"InferenceId":"svc-4"}',
            output="https://b.s3.us-east-1.amazonaws.com/out/a%20b.out",
            failure="https://b.s3.us-east-1.amazonaws.com/fail/a b+c.out",
        ),
        id="https-locations-encoded-and-raw",
    ),
    pytest.param(
        _answer(b' {\n "Other": [1],\n "InferenceId": "id with spaces~!" }\n'),
        id="whitespace-and-unmodeled-body-member",
    ),
    pytest.param(
        _answer(
            b'{"InferenceId":"svc-6"}',
            extra=[("x-amzn-sagemaker-outputlocation-extra", "ignored")],
        ),
        id="unmodeled-header",
    ),
    pytest.param(
        _answer('{"InferenceId":"svc-é ☃"}'.encode()),
        id="non-ascii-inference-id-in-json",
    ),
    pytest.param(
        # UTF-8 bytes in a header: both read them as ISO-8859-1, as http.client does.
        _answer(b'{"InferenceId":"svc-8"}', output=_latin1(f"{OUT}/ré sumé.out")),
        id="utf8-bytes-in-output-location-header",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", SCRIPTED_CASES)
async def test_same_answer_parses_the_same(
    answer: FakeResponse, peer: Peer, transport: str
) -> None:
    """Handed the same bytes, boto3's parsed members equal our job's fields, request id too."""
    fake = _reset(peer)
    fake.script.extend(dataclasses.replace(answer, headers=list(answer.headers)) for _ in "ab")
    theirs = _parsed(await _boto_async(peer.boto, {"EndpointName": ASYNC_EP, "InputLocation": IN}))
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        job = await rt.invoke_endpoint_async(ASYNC_EP, input_location=IN)
    assert _job(job) == theirs == _as_sent(answer)
    assert not fake.script


DIFFERENT_ON_PURPOSE = [
    pytest.param(_answer(b"{}"), id="no-inference-id"),
    pytest.param(_answer(b""), id="empty-body"),
    pytest.param(_answer(b'{"InferenceId":"x"}', output=None), id="no-output-location"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", DIFFERENT_ON_PURPOSE)
async def test_incomplete_answer_is_an_error_not_a_job(
    answer: FakeResponse, peer: Peer, transport: str
) -> None:
    """A deliberate difference: a 2xx without InferenceId or OutputLocation is a success to
    boto3 (the member is just absent) but a ``MalformedResponse`` ServiceError to us — a job
    without either cannot be awaited."""
    fake = _reset(peer)
    fake.script.extend(dataclasses.replace(answer, headers=list(answer.headers)) for _ in "ab")
    theirs = _parsed(await _boto_async(peer.boto, {"EndpointName": ASYNC_EP, "InputLocation": IN}))
    assert None in theirs[:2]
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        with pytest.raises(sm.ServiceError) as caught:
            await rt.invoke_endpoint_async(ASYNC_EP, input_location=IN)
    assert caught.value.error_code == "MalformedResponse"
    assert (caught.value.status_code, caught.value.request_id) == (202, theirs[3])


# ---------------------------------------------------------------------------------------------
# moto peer: upload → invoke → result, through moto's S3 and moto's SageMaker Runtime.

MOTO_ACCESS_KEY = "AKIDMOTOASYNC0000001"
MOTO_SECRET_KEY = "moto/async/secret/not/checked/by/moto/1"
IN_BUCKET = "in-bucket"


@dataclass
class Moto:
    """moto's URL and boto3's S3 and SageMaker Runtime clients bound to it."""

    url: str
    s3: Any
    runtime: Any


@pytest.fixture(scope="module")
def moto_boto(moto_url: str) -> Iterator[Moto]:
    """boto3 clients for moto, one attempt per call."""
    session = boto3.session.Session()
    common: dict[str, Any] = {
        "region_name": REGION,
        "endpoint_url": moto_url,
        "aws_access_key_id": MOTO_ACCESS_KEY,
        "aws_secret_access_key": MOTO_SECRET_KEY,
        "config": Config(retries={"total_max_attempts": 1}),
    }
    s3 = session.client("s3", **common)
    runtime = session.client("sagemaker-runtime", **common)
    try:
        yield Moto(moto_url, s3, runtime)
    finally:
        s3.close()
        runtime.close()


@pytest.fixture
def moto(moto_boto: Moto) -> Moto:
    """moto reset (S3 and the result queues), with the input bucket created by boto3."""
    with httpx.Client(base_url=moto_boto.url, trust_env=False) as api:
        api.post("/moto-api/reset").raise_for_status()
    moto_boto.s3.create_bucket(Bucket=IN_BUCKET)
    return moto_boto


def _queue_async(url: str, *results: dict[str, Any]) -> None:
    with httpx.Client(base_url=url, trust_env=False) as api:
        response = api.post(
            "/moto-api/static/sagemaker/async-endpoint-results",
            json={"account_id": "123456789012", "region": REGION, "results": list(results)},
        )
        assert response.status_code == 201


def _moto_client(moto: Moto, transport: str) -> sm.SageMakerRuntimeClient:
    return sm.SageMakerRuntimeClient(
        region=REGION,
        endpoint_url=moto.url,
        s3_endpoint_url=moto.url,
        credentials=(MOTO_ACCESS_KEY, MOTO_SECRET_KEY),
        transport=transport,  # type: ignore[arg-type]
    )


async def _get_object(moto: Moto, bucket: str, key: str) -> tuple[bytes, str]:
    def call() -> tuple[bytes, str]:
        got = moto.s3.get_object(Bucket=bucket, Key=key)
        return got["Body"].read(), got["ContentType"]

    return await anyio.to_thread.run_sync(call)


@pytest.mark.anyio
async def test_moto_upload_then_invoke_by_location(moto: Moto, transport: str) -> None:
    """What upload_input puts boto3 reads back byte for byte; moto answers the job by that
    InputLocation (boto3 asking for the same location gets the same pinned answer); and
    job.result() reads moto's queued output from moto's S3."""
    _queue_async(
        moto.url,
        {"data": json.dumps({"first": "output", "text": "héllo ☃"})},
        {"data": "a second result nobody should get"},
    )
    payload = json.dumps({"inputs": "héllo ☃", "n": [1, 2]}).encode()
    async with _moto_client(moto, transport) as rt:
        uri = await rt.upload_input(
            f"s3://{IN_BUCKET}/x/req.json", payload, content_type="application/json"
        )
        assert uri == f"s3://{IN_BUCKET}/x/req.json"
        assert await _get_object(moto, IN_BUCKET, "x/req.json") == (payload, "application/json")

        job = await rt.invoke_endpoint_async(
            "moto-ep", input_location=uri, inference_id="moto-job-1"
        )
        theirs = _parsed(
            await _boto_async(
                moto.runtime,
                {"EndpointName": "moto-ep", "InputLocation": uri, "InferenceId": "moto-job-1"},
            )
        )
        assert _job(job)[:3] == theirs[:3]
        assert job.output_location.startswith("s3://sagemaker-output-")
        result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json() == {"first": "output", "text": "héllo ☃"}
    assert (result.inference_id, result.output_location) == ("moto-job-1", job.output_location)
    bucket, key = job.output_location.removeprefix("s3://").split("/", 1)
    assert (await _get_object(moto, bucket, key))[0] == result.body


@pytest.mark.anyio
async def test_moto_upload_to_stages_a_large_json_body(moto: Moto, transport: str) -> None:
    """json= over 128,000 bytes with upload_to: the compact JSON is the only object under the
    prefix in moto's S3, and the request carried its location (boto3 naming that location gets
    moto's answer pinned to it, not the next queued one)."""
    _queue_async(moto.url, {"data": '{"staged": true}'}, {"data": '{"staged": "wrong"}'})
    async with _moto_client(moto, transport) as rt:
        job = await rt.invoke_endpoint_async(
            "moto-ep", json=BIG_JSON, upload_to=f"s3://{IN_BUCKET}/staging/"
        )
        result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json() == {"staged": True}

    def listed() -> list[str]:
        page = moto.s3.list_objects_v2(Bucket=IN_BUCKET, Prefix="staging/")
        return [obj["Key"] for obj in page.get("Contents", [])]

    (key,) = await anyio.to_thread.run_sync(listed)
    assert key.endswith(".input")
    assert await _get_object(moto, IN_BUCKET, key) == (compact_json(BIG_JSON), "application/json")
    theirs = _parsed(
        await _boto_async(
            moto.runtime, {"EndpointName": "moto-ep", "InputLocation": f"s3://{IN_BUCKET}/{key}"}
        )
    )
    assert (theirs[1], theirs[2]) == (job.output_location, job.failure_location)


# ---------------------------------------------------------------------------------------------
# Bugs these oracles found (fixed): upload only after validation, bucket-root upload_to,
# and upload_to named in its own errors.

BIG_ENOUGH_TO_UPLOAD = {"p": "x" * 200_000}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"filename": "a.b.c"}, id="filename"),
        pytest.param({"request_ttl_seconds": 59}, id="request-ttl-seconds"),
        pytest.param({"inference_id": "x" * 65}, id="inference-id"),
    ],
)
async def test_upload_to_validates_every_member_before_uploading(
    bad: dict[str, Any], peer: Peer, transport: str
) -> None:
    """An invalid member is refused before anything is uploaded or sent (as for every other
    input of the operation): no S3 PUT, no SageMaker request."""
    fake = _reset(peer)
    fake.s3.requests.clear()
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        with pytest.raises(sm.ParamValidationError) as caught:
            await rt.invoke_endpoint_async(
                ASYNC_EP, json=BIG_ENOUGH_TO_UPLOAD, upload_to="s3://in-bucket/staging/", **bad
            )
    assert caught.value.param == next(iter(bad))
    assert fake.requests == []
    assert fake.s3.requests == []


@pytest.mark.anyio
async def test_upload_to_a_bucket_root(peer: Peer, transport: str) -> None:
    """upload_to="s3://bucket/" stages the body at the bucket root and sends that location."""
    fake = _reset(peer)
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        await rt.invoke_endpoint_async(
            ASYNC_EP, json=BIG_ENOUGH_TO_UPLOAD, upload_to="s3://in-bucket/", inference_id="root-1"
        )
    (sent,) = fake.requests
    location = sent.header("x-amzn-sagemaker-inputlocation") or ""
    key = location.removeprefix("s3://in-bucket/")
    assert key.endswith(".input") and "/" not in key, location
    assert fake.s3.get("in-bucket", key) == compact_json(BIG_ENOUGH_TO_UPLOAD)


@pytest.mark.anyio
async def test_a_bad_upload_to_is_named_in_the_error(peer: Peer, transport: str) -> None:
    """A malformed upload_to is reported as ``upload_to``, the keyword the caller passed."""
    fake = _reset(peer)
    async with fake.client(endpoint_url=peer.url, transport=transport) as rt:
        with pytest.raises(sm.ParamValidationError) as caught:
            await rt.invoke_endpoint_async(
                ASYNC_EP, json=BIG_ENOUGH_TO_UPLOAD, upload_to="ftp://in-bucket/staging/"
            )
    assert caught.value.param == "upload_to"
    assert fake.requests == []
