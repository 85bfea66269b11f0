"""Shared pieces of the botocore-family differential tests (test_boto3_differential.py,
test_stream_oracles.py): the peers they call and the request-equality oracle.

boto3 and our client call the same loopback ``FakeSageMakerRuntime``; the fake records both
requests as received, and ``assert_same_request`` / ``botocore_authorization`` decide whether
they are the same request on the wire (spec §2.1, §5.1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

from sagemaker_rt_async import Credentials
from sagemaker_rt_async.testing import FakeResponse, FakeSageMakerRuntime, RecordedRequest

__all__ = [
    "ADDED_AFTER_SIGNING",
    "AMZ_DATE",
    "PER_REQUEST",
    "REGION",
    "TELEMETRY",
    "TOKEN_CREDENTIALS",
    "UUID_RE",
    "Peer",
    "RecordingFake",
    "assert_same_request",
    "boto3_client",
    "botocore_authorization",
    "compact_json",
]

REGION = "us-east-1"
TOKEN_CREDENTIALS = Credentials(
    "AKIDFAKEEXAMPLE00002",
    "fake/secret/key/for/tests/only/0000000002",
    "FQoGZXIvYXdzEXAMPLE//session/token+with/slashes==",
)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Unsigned headers that name the SDK or the attempt; they legitimately differ (spec §2.1).
TELEMETRY = frozenset({"user-agent", "amz-sdk-invocation-id", "amz-sdk-request"})
# Signed, but their values change with the clock.
PER_REQUEST = frozenset({"x-amz-date", "authorization"})
# What botocore's HTTP layer adds after ``SigV4Auth.add_auth`` ran (so they are never signed):
# the re-signing oracle must see the request as it was at signing time.
ADDED_AFTER_SIGNING = frozenset({"authorization", "content-length", "accept-encoding", *TELEMETRY})


# ---------------------------------------------------------------------------------------------
# The peers: one loopback fake per credential set, each with a boto3 client bound to it.


class RecordingFake(FakeSageMakerRuntime):
    """The fake, also remembering the ``x-amzn-RequestId`` it sent with each response."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent_request_ids: list[str | None] = []

    async def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> FakeResponse:
        response = await super().handle(method, target, headers, body)
        sent = {k.lower(): v for k, v in response.headers}
        self.sent_request_ids.append(sent.get("x-amzn-requestid"))
        return response


@dataclass
class Peer:
    """A served fake, its URL, and a boto3 client signing with the same credentials."""

    fake: RecordingFake
    url: str
    credentials: Credentials
    boto: Any = field(repr=False)

    def reset(self) -> None:
        self.fake.requests.clear()
        self.fake.sent_request_ids.clear()


def boto3_client(url: str, credentials: Credentials) -> Any:
    return boto3.session.Session().client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        # One attempt: a 5xx must surface, not be retried (and then re-recorded by the fake).
        config=Config(retries={"total_max_attempts": 1}),
    )


def compact_json(value: Any) -> bytes:
    """The documented ``json=`` serialisation, spelled out independently of the client."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _names(req: RecordedRequest) -> list[str]:
    return sorted(k.lower() for k, _ in req.headers)


def _comparable(req: RecordedRequest) -> list[tuple[str, str]]:
    return sorted(
        (k.lower(), v) for k, v in req.headers if k.lower() not in TELEMETRY | PER_REQUEST
    )


def _auth_fields(req: RecordedRequest) -> dict[str, str]:
    auth = req.header("authorization")
    assert auth is not None
    algorithm, rest = auth.split(" ", 1)
    assert algorithm == "AWS4-HMAC-SHA256"
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def botocore_authorization(req: RecordedRequest, credentials: Credentials) -> str:
    """botocore's ``Authorization`` for this request as it stood at signing time.

    botocore's clock is frozen at the request's own ``X-Amz-Date``.
    """
    headers = {k: v for k, v in req.headers if k.lower() not in ADDED_AFTER_SIGNING}
    host = req.header("host")
    amz_date = req.header("x-amz-date")
    assert host is not None
    assert amz_date is not None
    aws_request = botocore.awsrequest.AWSRequest(
        method=req.method, url=f"http://{host}{req.path}", headers=headers, data=req.body
    )
    when = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc)
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        ),
        "sagemaker",
        REGION,
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(aws_request)
    return str(aws_request.headers["Authorization"])


def assert_same_request(
    ours: RecordedRequest, theirs: RecordedRequest, credentials: Credentials
) -> None:
    """boto3's request and ours are the same on the wire, but for the SDK's identity and clock."""
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.body == theirs.body
    # No header twice: a repeated header would be joined with "," when signed.
    assert len(set(_names(ours))) == len(_names(ours))
    assert set(_names(ours)) - TELEMETRY == set(_names(theirs)) - TELEMETRY
    assert _comparable(ours) == _comparable(theirs)

    ours_auth, theirs_auth = _auth_fields(ours), _auth_fields(theirs)
    assert ours_auth["SignedHeaders"] == theirs_auth["SignedHeaders"]
    ours_date, theirs_date = ours.header("x-amz-date"), theirs.header("x-amz-date")
    assert ours_date is not None
    assert theirs_date is not None
    # Credential=<akid>/<date>/<region>/sagemaker/aws4_request: equal but for the date, which
    # must be each request's own X-Amz-Date day.
    scope = [credentials.access_key_id, REGION, "sagemaker", "aws4_request"]
    for auth, amz_date in ((ours_auth, ours_date), (theirs_auth, theirs_date)):
        akid, day, *rest = auth["Credential"].split("/")
        assert ([akid, *rest], day) == (scope, amz_date[:8])
    gap = datetime.strptime(ours_date, AMZ_DATE) - datetime.strptime(theirs_date, AMZ_DATE)
    assert abs(gap) < timedelta(minutes=1)

    for req in (ours, theirs):
        invocation_id = req.header("amz-sdk-invocation-id")
        assert invocation_id is not None
        assert UUID_RE.fullmatch(invocation_id)
        assert (req.header("amz-sdk-request") or "").startswith("attempt=1")


# ---------------------------------------------------------------------------------------------
# The calls the oracle tests make, ours and boto3's, defined once for the three operations.

# Our keyword -> botocore's member (the service model's names, spec §2.2-§2.4).
BOTO_MEMBER = {
    "body": "Body",
    "content_type": "ContentType",
    "accept": "Accept",
    "custom_attributes": "CustomAttributes",
    "target_model": "TargetModel",
    "target_variant": "TargetVariant",
    "target_container_hostname": "TargetContainerHostname",
    "inference_id": "InferenceId",
    "enable_explanations": "EnableExplanations",
    "inference_component_name": "InferenceComponentName",
    "session_id": "SessionId",
    "prefix_aware_id": "PrefixAwareId",
    "input_location": "InputLocation",
    "request_ttl_seconds": "RequestTTLSeconds",
    "invocation_timeout_seconds": "InvocationTimeoutSeconds",
    "s3_output_path_extension": "S3OutputPathExtension",
    "filename": "Filename",
}
# Which of our keywords each operation takes as a member (the rest of BOTO_MEMBER is others').
_COMMON = ("body", "content_type", "accept", "custom_attributes", "inference_id")
_REAL_TIME = (
    *_COMMON,
    "target_variant",
    "target_container_hostname",
    "inference_component_name",
    "session_id",
    "prefix_aware_id",
)
OPERATION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "InvokeEndpoint": (*_REAL_TIME, "target_model", "enable_explanations"),
    "InvokeEndpointWithResponseStream": _REAL_TIME,
    "InvokeEndpointAsync": (
        *_COMMON,
        "input_location",
        "request_ttl_seconds",
        "invocation_timeout_seconds",
        "s3_output_path_extension",
        "filename",
    ),
}


def members_of(operation: str) -> dict[str, str]:
    """Our keyword -> botocore's member, for one operation."""
    return {k: BOTO_MEMBER[k] for k in OPERATION_KEYWORDS[operation]}


# Per-call options that are no member: nothing of them reaches boto3's arguments.
NOT_SENT = frozenset({"timeout", "retry"})


@dataclass(frozen=True)
class Call:
    """One call: our keywords, and boto3's (derived from ours unless given).

    ``rejected``: the fake, like the service, answers 400 ValidationError to both.
    """

    ours: dict[str, Any]
    endpoint: str = "echo"
    boto_override: dict[str, Any] | None = None
    session_token: bool = False
    rejected: bool = False

    def boto_args(self) -> dict[str, Any]:
        """boto3's keyword arguments for the same call."""
        if self.boto_override is not None:
            return {"EndpointName": self.endpoint, **self.boto_override}
        args: dict[str, Any] = {"EndpointName": self.endpoint}
        for key, value in self.ours.items():
            if key in NOT_SENT:
                continue
            args[BOTO_MEMBER[key]] = (
                bytes(value) if key == "body" and not isinstance(value, str) else value
            )
        return args

    def body_bytes(self) -> bytes:
        """The body boto3 sends."""
        body = self.boto_args()["Body"]
        return body.encode() if isinstance(body, str) else bytes(body)


# Every member of each operation at once, with values the service accepts.
EVERY_MEMBER: dict[str, dict[str, Any]] = {
    "InvokeEndpoint": {
        "body": b'{"inputs":"every member"}',
        "content_type": "application/json",
        "accept": "application/json",
        "custom_attributes": "trace=abc",
        "target_model": "model-1.tar.gz",
        "target_variant": "blue-1",
        "target_container_hostname": "container-2",
        "inference_id": "inf-0001",
        "enable_explanations": "`true`",
        "inference_component_name": "ic-llama-7b",
        "session_id": "sess-abc-123",
        "prefix_aware_id": "conversation-42",
    },
    "InvokeEndpointWithResponseStream": {
        "body": b'{"inputs":"every member"}',
        "content_type": "application/json",
        "accept": "text/event-stream",
        "custom_attributes": "trace=abc",
        "target_variant": "blue-1",
        "target_container_hostname": "container-2",
        "inference_id": "inf-0001",
        "inference_component_name": "ic-llama-7b",
        "session_id": "sess-abc-123",
        "prefix_aware_id": "conversation-42",
    },
    "InvokeEndpointAsync": {
        "content_type": "application/json",
        "accept": "application/json",
        "custom_attributes": "trace=abc, k=v",
        "inference_id": "inf-0001",
        "request_ttl_seconds": 120,
        "invocation_timeout_seconds": 600,
        "s3_output_path_extension": "batch/7",
        "filename": "r-1.json",
    },
}
