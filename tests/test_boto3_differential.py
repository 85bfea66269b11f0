"""boto3 as the oracle for InvokeEndpoint: the same call must put the same request on the wire.

boto3 (sync, on a worker thread) and our client call the same loopback ``FakeSageMakerRuntime``
server with the same arguments; the fake records both requests as received. Three sides:

* request: method, path, body, header names and values are equal, except the per-request
  ``x-amz-date``/``authorization`` values and the unsigned telemetry headers (``user-agent``,
  ``amz-sdk-invocation-id``, ``amz-sdk-request``) that identify the SDK. ``SignedHeaders=`` is
  equal, and botocore's own ``SigV4Auth``, frozen at our ``X-Amz-Date``, recomputes our
  ``Authorization`` header exactly (spec §5.1).
* response: boto3's parsed members equal our ``InvokeEndpointResult`` fields (spec §2.2).
* errors: boto3's ``ClientError`` code, message, status and modeled fields equal our typed
  ``ServiceError`` (spec §3.3). Where we differ on purpose, the case says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import botocore.exceptions
import botocore.session
import pytest
from _oracles import (
    EVERY_MEMBER,
    TOKEN_CREDENTIALS,
    Call,
    Peer,
    RecordingFake,
    assert_same_request,
    botocore_authorization,
    compact_json,
    members_of,
)
from _oracles import boto3_client as _boto3_client

import sagemaker_rt_async as sm
from sagemaker_rt_async import InvokeEndpointResult
from sagemaker_rt_async.testing import (
    TEST_CREDENTIALS,
    Invocation,
    ModelFailure,
    ModelResponse,
    RecordedRequest,
    ServiceFailure,
)


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[bool, Peer]]:
    """Two served fakes, keyed by "uses a session token"."""
    with ExitStack() as stack:
        out: dict[bool, Peer] = {}
        for with_token, creds in ((False, TEST_CREDENTIALS), (True, TOKEN_CREDENTIALS)):
            fake = RecordingFake(credentials=creds)
            server = stack.enter_context(fake.serve())
            out[with_token] = Peer(fake, server.url, creds, _boto3_client(server.url, creds))
        yield out


@pytest.fixture
def peer(peers: dict[bool, Peer]) -> Peer:
    """The token-less peer, with its recordings cleared."""
    p = peers[False]
    p.reset()
    return p


async def _boto_call(client: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Run boto3's InvokeEndpoint on a worker thread, reading the streamed body there too."""

    def call() -> dict[str, Any]:
        response: dict[str, Any] = client.invoke_endpoint(**args)
        response["Body"] = response["Body"].read()
        return response

    return await anyio.to_thread.run_sync(call)


async def _boto_error(client: Any, args: dict[str, Any]) -> Any:
    """Run boto3's InvokeEndpoint expecting a ClientError; return it."""

    def call() -> Any:
        try:
            client.invoke_endpoint(**args)
        except botocore.exceptions.ClientError as exc:
            return exc
        raise AssertionError("boto3 did not raise")

    return await anyio.to_thread.run_sync(call)


# ---------------------------------------------------------------------------------------------
# Request side


# Our keyword -> botocore member (the service model's names, spec §2.2).


JSON_VALUE = {"inputs": "héllo ☃ 🦀", "n": [1, 2.5, None, True], "nested": {"k": "\u00a0"}}
MAX_BODY = 6_291_456  # spec §2.2: InvokeEndpoint accepts at most 6 MiB
AIOHTTP_LARGE_BODY = 2**20  # aiohttp.payload.TOO_LARGE_BYTES_BODY: raw bytes above it warn

REQUEST_CASES = [
    pytest.param(Call({"body": b""}), id="empty-body"),
    pytest.param(
        Call({"body": bytes(range(256)), "content_type": "application/octet-stream"}),
        id="all-256-byte-values",
    ),
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
    pytest.param(Call(EVERY_MEMBER["InvokeEndpoint"]), id="every-member"),
    pytest.param(Call({"body": b"x", "session_id": "NEW_SESSION"}), id="new-session"),
    pytest.param(Call({"body": b"x", "custom_attributes": ""}), id="custom-attributes-empty"),
    pytest.param(
        Call({"body": b"x", "custom_attributes": "trace=abc, model version=2,k=v=w"}),
        id="custom-attributes-spaces-equals-commas",
    ),
    pytest.param(
        Call({"body": b"x", "custom_attributes": "a=1,   b=2"}),
        id="custom-attributes-inner-whitespace-runs",
    ),
    pytest.param(
        Call({"body": b"x", "custom_attributes": "  a=1,   b=2  "}),
        id="custom-attributes-edge-whitespace",
    ),
    pytest.param(
        Call({"body": b"x", "inference_id": "id-1 "}),
        id="inference-id-trailing-space",
    ),
    pytest.param(Call({"body": b"x", "custom_attributes": "a=1\tb=2"}), id="custom-attributes-tab"),
    pytest.param(Call({"body": b"x", "target_model": "model/a.tar.gz"}), id="target-model-path"),
    pytest.param(
        Call({"body": b"x", "target_model": "models/v 2/a+b.tar.gz"}),
        id="target-model-space-plus",
    ),
    pytest.param(Call({"body": b"x", "enable_explanations": "`true`"}), id="enable-explanations"),
    pytest.param(
        Call({"body": b"x", "enable_explanations": "[?x > `0.5`] | length(@) > `0`"}),
        id="enable-explanations-jmespath",
    ),
    pytest.param(
        Call({"body": b"x", "inference_component_name": "ic-1"}), id="inference-component"
    ),
    pytest.param(Call({"body": b"x", "prefix_aware_id": "conv-42/turn 3"}), id="prefix-aware-id"),
    pytest.param(
        Call({"body": b"x", "inference_id": "id:1 with spaces&symbols~!"}),
        id="inference-id-printable",
    ),
    pytest.param(
        Call({"body": b"x", "accept": "application/json, text/csv;q=0.5"}), id="accept-list"
    ),
    pytest.param(Call({"body": b"x"}, endpoint="e" + "-1" * 31), id="endpoint-name-63-chars"),
    pytest.param(
        Call({"body": b"a" * AIOHTTP_LARGE_BODY, "content_type": "text/plain"}), id="body-1-mib"
    ),
    pytest.param(
        Call({"body": b"a" * MAX_BODY, "content_type": "text/plain"}),
        id="body-at-6-mib-limit",
    ),
    pytest.param(
        Call({"body": b'{"x":1}', "content_type": "application/json"}, session_token=True),
        id="session-token",
    ),
]


async def _exchange(
    p: Peer, call: Call, transport: str
) -> tuple[RecordedRequest, RecordedRequest, InvokeEndpointResult]:
    """boto3's call, then ours, to the echo endpoint: (boto3's request, ours, our result)."""
    p.reset()
    p.fake.add_endpoint(call.endpoint)
    await _boto_call(p.boto, call.boto_args())
    async with p.fake.client(endpoint_url=p.url, transport=transport) as rt:
        result = await rt.invoke_endpoint(call.endpoint, **call.ours)
    theirs, ours = p.fake.requests
    return theirs, ours, result


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_request_matches_boto3(call: Call, peers: dict[bool, Peer], transport: str) -> None:
    """Same arguments → same method, path, body, headers and signed headers as boto3."""
    p = peers[call.session_token]
    theirs, ours, result = await _exchange(p, call, transport)
    assert_same_request(ours, theirs, p.credentials)
    assert result.body == ours.body  # the echo handler answered our own bytes


@pytest.mark.anyio
@pytest.mark.parametrize("call", REQUEST_CASES)
async def test_botocore_recomputes_our_signature(
    call: Call, peers: dict[bool, Peer], transport: str
) -> None:
    """botocore's SigV4Auth at our X-Amz-Date reproduces our Authorization header exactly.

    The same re-signing applied to boto3's own request reproduces boto3's header, which shows
    the oracle rebuilds the request as it was at signing time.
    """
    p = peers[call.session_token]
    theirs, ours, _ = await _exchange(p, call, transport)
    assert botocore_authorization(theirs, p.credentials) == theirs.header("authorization")
    assert botocore_authorization(ours, p.credentials) == ours.header("authorization")


def test_cases_cover_every_invoke_endpoint_member() -> None:
    """The request table sets every InvokeEndpoint input member of botocore's model at least once,
    and every member maps to one of our keywords."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    members = set(model.operation_model("InvokeEndpoint").input_shape.members)
    used: set[str] = set()
    for param in REQUEST_CASES:
        call = param.values[0]
        assert isinstance(call, Call)
        used |= set(call.boto_args())
    assert members == used
    assert members == {"EndpointName", *members_of("InvokeEndpoint").values()}


# ---------------------------------------------------------------------------------------------
# Response side


RESPONSE_CASES = [
    pytest.param(
        ModelResponse(
            bytes(range(256)),
            content_type="application/x-npy",
            custom_attributes="trace=abc, k=v",
            new_session_id="sess-1; Expires=2026-01-01T00:00:00Z",
            closed_session_id="sess-0",
            invoked_production_variant="blue-1",
        ),
        id="every-member",
    ),
    pytest.param(ModelResponse(b""), id="empty-body-defaults"),
    pytest.param(ModelResponse(b"x", custom_attributes=""), id="custom-attributes-empty"),
    pytest.param(
        ModelResponse("héllo ☃", content_type="text/plain; charset=utf-8"), id="utf8-text"
    ),
    pytest.param(ModelResponse({"outputs": [1, 2]}), id="json-body"),
    pytest.param(ModelResponse(b"bye", closed_session_id="sess-abc-123"), id="closed-session-only"),
]


def _boto_result(response: dict[str, Any]) -> InvokeEndpointResult:
    """boto3's parsed response in our result's shape (absent members → None)."""
    return InvokeEndpointResult(
        body=response["Body"],
        content_type=response.get("ContentType"),
        invoked_production_variant=response.get("InvokedProductionVariant"),
        custom_attributes=response.get("CustomAttributes"),
        new_session_id=response.get("NewSessionId"),
        closed_session_id=response.get("ClosedSessionId"),
        request_id=response["ResponseMetadata"].get("RequestId"),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("answer", RESPONSE_CASES)
async def test_response_matches_boto3(answer: ModelResponse, peer: Peer, transport: str) -> None:
    """boto3's parsed members equal our result's fields, request id included."""
    peer.fake.add_endpoint("answer", lambda _inv: answer)
    theirs = _boto_result(await _boto_call(peer.boto, {"EndpointName": "answer", "Body": b"q"}))
    async with peer.fake.client(endpoint_url=peer.url, transport=transport) as rt:
        ours = await rt.invoke_endpoint("answer", b"q")
    boto_id, our_id = peer.fake.sent_request_ids
    assert (theirs.request_id, ours.request_id) == (boto_id, our_id)
    assert ours == InvokeEndpointResult(
        body=theirs.body,
        content_type=theirs.content_type,
        invoked_production_variant=theirs.invoked_production_variant,
        custom_attributes=theirs.custom_attributes,
        new_session_id=theirs.new_session_id,
        closed_session_id=theirs.closed_session_id,
        request_id=our_id,
    )


# ---------------------------------------------------------------------------------------------
# Error side


@dataclass(frozen=True)
class Failure:
    """What the handler raises, and the class of our error it must become."""

    raise_: Exception
    ours: type[sm.ServiceError]
    # botocore's generic 5xx path (empty or <html> body) records no RequestId; we keep the
    # x-amzn-RequestId header the response did carry. A deliberate difference.
    boto_has_request_id: bool = True


ERROR_CASES = [
    pytest.param(
        Failure(ServiceFailure(400, "ValidationError", "bad input"), sm.ValidationError),
        id="400-validation",
    ),
    pytest.param(
        Failure(
            ServiceFailure(429, "ModelNotReadyException", "scaling"), sm.ModelNotReadyException
        ),
        id="429-model-not-ready",
    ),
    pytest.param(
        Failure(ServiceFailure(500, "InternalFailure", "oops"), sm.InternalFailure),
        id="500-internal-failure",
    ),
    pytest.param(
        Failure(ServiceFailure(503, "ServiceUnavailable", "later"), sm.ServiceUnavailable),
        id="503-service-unavailable",
    ),
    pytest.param(
        Failure(
            ServiceFailure(530, "InternalDependencyException", "dep"),
            sm.InternalDependencyException,
        ),
        id="530-internal-dependency",
    ),
    pytest.param(
        Failure(ServiceFailure(400, "ThrottlingException", "Rate exceeded"), sm.ThrottlingError),
        id="400-throttling",
    ),
    pytest.param(
        Failure(ServiceFailure(403, "AccessDeniedException", "no"), sm.AccessDeniedError),
        id="403-access-denied",
    ),
    pytest.param(
        Failure(ServiceFailure(403, "ExpiredTokenException", "expired"), sm.AuthenticationError),
        id="403-expired-token",
    ),
    pytest.param(
        Failure(ServiceFailure(418, "SomethingNew", "unknown code"), sm.ServiceError),
        id="418-unmodeled-code",
    ),
    pytest.param(
        Failure(
            ServiceFailure(502, "x", raw_body=b"<html>Bad Gateway</html>"),
            sm.ServiceError,
            boto_has_request_id=False,
        ),
        id="502-html-body",
    ),
    pytest.param(
        Failure(ServiceFailure(500, "x", raw_body=b""), sm.ServiceError, boto_has_request_id=False),
        id="500-empty-body",
    ),
    pytest.param(
        Failure(ServiceFailure(503, "x", raw_body=b'{"message":"x"}'), sm.ServiceError),
        id="503-json-without-code",
    ),
    pytest.param(
        Failure(ServiceFailure(400, "x", raw_body=b"plain text, not JSON"), sm.ServiceError),
        id="400-non-json-body",
    ),
    pytest.param(
        Failure(
            ServiceFailure(
                429,
                "x",
                raw_body=b'{"__type":"com.amazonaws.sagemaker#ModelNotReadyException",'
                b'"Message":"M"}',
            ),
            sm.ModelNotReadyException,
        ),
        id="429-namespaced-type",
    ),
    pytest.param(
        Failure(
            ServiceFailure(400, "x", raw_body=b'{"code":"BodyCode","__type":"T","message":"m"}'),
            sm.ServiceError,
        ),
        id="400-body-code-beats-type",
    ),
    pytest.param(
        Failure(
            ServiceFailure(
                400,
                "x",
                raw_body=b'{"code":"BodyCode"}',
                headers=[("x-amzn-ErrorType", "HeaderCode:http://internal/")],
            ),
            sm.ServiceError,
        ),
        id="400-header-code-beats-body",
    ),
    pytest.param(
        Failure(ServiceFailure(400, "x", raw_body=b""), sm.ServiceError), id="400-empty-body"
    ),
    pytest.param(
        Failure(ServiceFailure(404, "x", raw_body=b"<html>Not Found</html>"), sm.ServiceError),
        id="404-html-body-is-not-generic",
    ),
    pytest.param(
        Failure(
            ServiceFailure(504, "x", raw_body=b"  \r\n<html>Gateway</html>\n"),
            sm.ServiceError,
            boto_has_request_id=False,
        ),
        id="504-html-after-whitespace",
    ),
    pytest.param(
        Failure(ServiceFailure(400, "x", raw_body=b"   "), sm.ServiceError),
        id="400-whitespace-only-body",
    ),
    pytest.param(
        Failure(
            ServiceFailure(400, "x", raw_body=b'{"code":"","__type":"TypeCode","message":"m"}'),
            sm.ServiceError,
        ),
        id="400-empty-code-field",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("failure", ERROR_CASES)
async def test_error_matches_boto3(failure: Failure, peer: Peer, transport: str) -> None:
    """boto3's Error.Code / Error.Message / status / RequestId equal our error's fields."""

    def handler(_inv: Invocation) -> bytes:
        raise failure.raise_

    peer.fake.add_endpoint("fails", handler)
    theirs = await _boto_error(peer.boto, {"EndpointName": "fails", "Body": b"q"})
    async with peer.fake.client(endpoint_url=peer.url, transport=transport, retry=False) as rt:
        with pytest.raises(sm.ServiceError) as caught:
            await rt.invoke_endpoint("fails", b"q")
    ours = caught.value
    assert type(ours) is failure.ours
    assert ours.error_code == theirs.response["Error"]["Code"]
    assert ours.message == theirs.response["Error"]["Message"]
    assert ours.status_code == theirs.response["ResponseMetadata"]["HTTPStatusCode"]
    boto_id, our_id = peer.fake.sent_request_ids
    assert ours.request_id == our_id
    if failure.boto_has_request_id:
        assert theirs.response["ResponseMetadata"]["RequestId"] == boto_id
    else:
        assert "RequestId" not in theirs.response["ResponseMetadata"]


MODEL_FAILURES = [
    pytest.param(
        ModelFailure(400, "bad", log_stream_arn="arn:aws:logs:us-east-1:1:log-group:/x"),
        id="400-with-log-stream",
    ),
    pytest.param(ModelFailure(500, "crashed"), id="500-without-log-stream"),
    pytest.param(ModelFailure(0, "timed out"), id="0-container-timeout"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("failure", MODEL_FAILURES)
async def test_model_error_matches_boto3(failure: ModelFailure, peer: Peer, transport: str) -> None:
    """A 424 ModelError carries the same code, message and container fields as boto3's."""

    def handler(_inv: Invocation) -> bytes:
        raise failure

    peer.fake.add_endpoint("model-fails", handler)
    theirs = await _boto_error(peer.boto, {"EndpointName": "model-fails", "Body": b"q"})
    async with peer.fake.client(endpoint_url=peer.url, transport=transport) as rt:
        with pytest.raises(sm.ModelError) as caught:
            await rt.invoke_endpoint("model-fails", b"q")
    ours = caught.value
    assert type(theirs).__name__ == "ModelError"
    assert (ours.error_code, ours.status_code) == ("ModelError", 424)
    assert ours.error_code == theirs.response["Error"]["Code"]
    assert ours.message == theirs.response["Error"]["Message"]
    assert ours.status_code == theirs.response["ResponseMetadata"]["HTTPStatusCode"]
    assert ours.original_status_code == theirs.response.get("OriginalStatusCode")
    assert ours.original_message == theirs.response.get("OriginalMessage")
    assert ours.log_stream_arn == theirs.response.get("LogStreamArn")
    assert ours.original_status_code == failure.original_status_code
