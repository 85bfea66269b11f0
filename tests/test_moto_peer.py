"""moto's server as a third-party peer: our client and boto3 call it and get the same answers.

moto (``ThreadedMotoServer`` on 127.0.0.1, an ephemeral port) routes the request from the
credential scope ``sagemaker`` and the ``/endpoints/{name}/invocations`` path, and answers
InvokeEndpoint from a queue of canned results configured through its ``/moto-api`` (see
``moto/sagemakerruntime/models.py``). moto pins a result to the request's "shape": the
``X-Amzn-SageMaker-*`` headers, ``Accept`` and the body. So when our call takes the only queued
result and boto3's identical call then gets that same result back (rather than moto's static
default), moto has seen the same members from both clients.

moto limitation: it keys results on ``json.dumps`` of the body, so a non-UTF-8 body makes moto
answer 500; the cases here use text bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import boto3
import httpx
import pytest
from botocore.config import Config

from sagemaker_rt_async import InvokeEndpointResult, SageMakerRuntimeClient

REGION = "us-east-1"
ACCESS_KEY = "AKIDMOTOPEER00000001"
SECRET_KEY = "moto/peer/secret/not/checked/by/moto/01"
# What moto answers when its queue is empty (SageMakerRuntimeBackend.invoke_endpoint).
MOTO_STATIC = ("body", "content_type", "invoked_production_variant", "custom_attributes")


@pytest.fixture
def moto_api(moto_url: str) -> Iterator[httpx.Client]:
    """A sync client for moto's control API; moto's state is reset before each test."""
    with httpx.Client(base_url=moto_url, trust_env=False) as api:
        api.post("/moto-api/reset").raise_for_status()
        yield api


@pytest.fixture(scope="module")
def boto(moto_url: str) -> Any:
    """boto3 bound to the moto server, one attempt per call."""
    return boto3.session.Session().client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _queue(api: httpx.Client, *results: dict[str, str]) -> None:
    response = api.post(
        "/moto-api/static/sagemaker/endpoint-results",
        json={"account_id": "123456789012", "region": REGION, "results": list(results)},
    )
    assert response.status_code == 201


def _canned(tag: str) -> dict[str, str]:
    return {
        "Body": f'{{"answer": "{tag}", "text": "héllo ☃"}}',
        "ContentType": f"application/x-{tag}",
        "InvokedProductionVariant": f"variant-{tag}",
        "CustomAttributes": f"tag={tag}, k=v",
    }


def _fields(result: InvokeEndpointResult) -> tuple[bytes, str | None, str | None, str | None]:
    return (
        result.body,
        result.content_type,
        result.invoked_production_variant,
        result.custom_attributes,
    )


def _from_canned(canned: dict[str, str]) -> tuple[bytes, str, str, str]:
    return (
        canned["Body"].encode(),
        canned["ContentType"],
        canned["InvokedProductionVariant"],
        canned["CustomAttributes"],
    )


async def _boto_fields(
    client: Any, args: dict[str, Any]
) -> tuple[bytes, str | None, str | None, str | None]:
    def call() -> tuple[bytes, str | None, str | None, str | None]:
        r = client.invoke_endpoint(**args)
        assert r["ResponseMetadata"]["RequestId"]
        return (
            r["Body"].read(),
            r.get("ContentType"),
            r.get("InvokedProductionVariant"),
            r.get("CustomAttributes"),
        )

    return await anyio.to_thread.run_sync(call)


def _client(url: str, transport: str) -> SageMakerRuntimeClient:
    return SageMakerRuntimeClient(
        region=REGION,
        endpoint_url=url,
        credentials=(ACCESS_KEY, SECRET_KEY),
        transport=transport,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Call:
    """Our keywords and boto3's for the same InvokeEndpoint call."""

    ours: dict[str, Any]
    boto: dict[str, Any]


CALLS = [
    pytest.param(
        Call(
            {"body": b"qwer", "content_type": "text/plain"},
            {"Body": b"qwer", "ContentType": "text/plain"},
        ),
        id="bytes-body",
    ),
    pytest.param(
        Call({"body": "héllo ☃"}, {"Body": "héllo ☃".encode()}),
        id="str-body-utf8",
    ),
    pytest.param(
        Call(
            {"json": {"inputs": "ünïcode", "n": [1, None]}},
            {
                "Body": json.dumps(
                    {"inputs": "ünïcode", "n": [1, None]}, separators=(",", ":"), ensure_ascii=False
                ).encode(),
                "ContentType": "application/json",
            },
        ),
        id="json-keyword",
    ),
    pytest.param(
        Call(
            {
                "body": b"{}",
                "content_type": "application/json",
                "accept": "application/json",
                "custom_attributes": "trace=abc, x=1",
                "target_model": "model/a.tar.gz",
                "target_variant": "blue-1",
                "target_container_hostname": "container-2",
                "inference_id": "inf-0001",
                "enable_explanations": "`true`",
                "inference_component_name": "ic-1",
                "session_id": "NEW_SESSION",
                "prefix_aware_id": "conversation-42",
            },
            {
                "Body": b"{}",
                "ContentType": "application/json",
                "Accept": "application/json",
                "CustomAttributes": "trace=abc, x=1",
                "TargetModel": "model/a.tar.gz",
                "TargetVariant": "blue-1",
                "TargetContainerHostname": "container-2",
                "InferenceId": "inf-0001",
                "EnableExplanations": "`true`",
                "InferenceComponentName": "ic-1",
                "SessionId": "NEW_SESSION",
                "PrefixAwareId": "conversation-42",
            },
        ),
        id="every-member",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize("call", CALLS)
async def test_moto_answer_matches_boto3(
    call: Call, moto_api: httpx.Client, moto_url: str, boto: Any, transport: str
) -> None:
    """Our call gets moto's queued result; boto3's identical call gets that same result."""
    canned = _canned("first")
    _queue(moto_api, canned)
    async with _client(moto_url, transport) as rt:
        ours = await rt.invoke_endpoint("peer-endpoint", **call.ours)
    assert _fields(ours) == _from_canned(canned)
    assert ours.request_id
    theirs = await _boto_fields(boto, {"EndpointName": "peer-endpoint", **call.boto})
    assert theirs == _fields(ours)


@pytest.mark.anyio
async def test_moto_queue_is_shared_in_order(
    moto_api: httpx.Client, moto_url: str, boto: Any, transport: str
) -> None:
    """Distinct calls take queued results in order; each repeated by the other client (boto3
    after ours, ours after boto3) gets the result already pinned to it."""
    first, second = _canned("one"), _canned("two")
    _queue(moto_api, first, second)
    async with _client(moto_url, transport) as rt:
        ours_a = await rt.invoke_endpoint("ep", b"a", content_type="text/plain")
        theirs_b = await _boto_fields(boto, {"EndpointName": "ep", "Body": b"b"})
        theirs_a = await _boto_fields(
            boto, {"EndpointName": "ep", "Body": b"a", "ContentType": "text/plain"}
        )
        ours_b = await rt.invoke_endpoint("ep", b"b")
    assert _fields(ours_a) == theirs_a == _from_canned(first)
    assert _fields(ours_b) == theirs_b == _from_canned(second)


@pytest.mark.anyio
async def test_moto_static_default_matches_boto3(
    moto_api: httpx.Client, moto_url: str, boto: Any, transport: str
) -> None:
    """With nothing queued, moto's static answer reads the same through both clients."""
    async with _client(moto_url, transport) as rt:
        ours = await rt.invoke_endpoint("ep", b"x", accept="text/csv")
    theirs = await _boto_fields(boto, {"EndpointName": "ep", "Body": b"x", "Accept": "text/csv"})
    expected = (MOTO_STATIC[0].encode(), *MOTO_STATIC[1:])
    assert _fields(ours) == theirs == expected
