"""InvokeEndpointAsync: submit, upload, await the result from S3, typed failure and timeout."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure, ModelResponse

pytestmark = pytest.mark.anyio

OUT = "s3://results-bucket/async/out"
FAIL = "s3://results-bucket/async/failures"


def _fake(**s3_options: Any) -> FakeSageMakerRuntime:
    from sagemaker_rt_async.testing._s3 import FakeS3

    fake = FakeSageMakerRuntime(s3=FakeS3(**s3_options) if s3_options else None)

    def model(inv: Invocation) -> ModelResponse:
        data = inv.json()
        if data.get("fail"):
            raise ModelFailure(500, "the model fell over")
        return ModelResponse(
            {"echo": data, "content_type": inv.content_type, "accept": inv.accept},
            content_type="application/json",
        )

    fake.add_endpoint(
        "async-ep", model, async_output_path=OUT, async_failure_path=FAIL, processing_time=0.05
    )
    fake.add_endpoint(
        "slow-async", model, async_output_path=OUT, async_failure_path=FAIL, processing_time=60
    )
    fake.add_endpoint("sync-only", model)
    return fake


@pytest.fixture
def fake() -> FakeSageMakerRuntime:
    """A fake with async endpoints writing to an in-memory S3."""
    return _fake()


@pytest.fixture(params=["inprocess", "loopback"])
async def rt(
    request: pytest.FixtureRequest, fake: FakeSageMakerRuntime, anyio_backend: str
) -> AsyncIterator[sm.SageMakerRuntimeClient]:
    """Our client, in-process or over a real loopback socket (SageMaker and S3 on one server)."""
    if request.param == "inprocess":
        async with fake.client() as client:
            yield client
        return
    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url, transport="httpx") as client:
            yield client


async def test_inline_body_round_trip(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """An inline JSON body is queued; result() returns the model's output from S3."""
    job = await rt.invoke_endpoint_async(
        "async-ep", json={"x": 1}, accept="application/json", inference_id="job-1"
    )
    assert job.inference_id == "job-1"
    assert job.output_location == f"{OUT}/job-1.out"
    assert job.failure_location == f"{FAIL}/job-1-error.out"
    assert job.request_id
    result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json() == {
        "echo": {"x": 1},
        "content_type": "application/json",
        "accept": "application/json",
    }
    assert result.content_type == "application/json"
    assert result.inference_id == "job-1"
    sent = fake.requests[-1]
    # As boto3: the payload's type travels only in X-Amzn-SageMaker-Content-Type.
    assert sent.header("content-type") is None
    assert sent.header("x-amzn-sagemaker-content-type") == "application/json"
    assert sent.header("x-amzn-sagemaker-accept") == "application/json"
    assert sent.path == "/endpoints/async-ep/async-invocations"


async def test_input_location_after_upload(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """upload_input puts the payload in S3; the job reads it by location; the body is empty."""
    uri = await rt.upload_input(
        "s3://inputs/req 1/payload.json", b'{"y": 2}', content_type="application/json"
    )
    assert uri == "s3://inputs/req 1/payload.json"
    assert fake.s3.get("inputs", "req 1/payload.json") == b'{"y": 2}'
    job = await rt.invoke_endpoint_async(
        "async-ep",
        input_location=uri,
        content_type="application/json",
        filename="r.json",
        s3_output_path_extension="batch/7",
    )
    sent = fake.requests[-1]
    assert sent.body == b""
    assert sent.header("x-amzn-sagemaker-inputlocation") == uri
    assert job.output_location == f"{OUT}/batch/7/r.json"
    result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json()["echo"] == {"y": 2}


async def test_upload_to_for_a_body_too_large_to_inline(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """A body over 128,000 bytes with upload_to is uploaded, then invoked by its location."""
    big = {"pad": "x" * 200_000}
    job = await rt.invoke_endpoint_async(
        "async-ep", json=big, upload_to="s3://inputs/staging/", inference_id="big-1"
    )
    sent = fake.requests[-1]
    assert sent.body == b""
    location = sent.header("x-amzn-sagemaker-inputlocation") or ""
    assert location.startswith("s3://inputs/staging/") and location.endswith(".input")
    stored = fake.s3.get("inputs", location.removeprefix("s3://inputs/"))
    assert stored is not None and json.loads(stored) == big
    result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json()["echo"] == big


async def test_small_body_with_upload_to_stays_inline(
    fake: FakeSageMakerRuntime, rt: sm.SageMakerRuntimeClient
) -> None:
    """upload_to only kicks in when the body cannot be inlined."""
    await rt.invoke_endpoint_async("async-ep", body=b'{"z": 3}', upload_to="s3://inputs/p/")
    assert fake.requests[-1].body == b'{"z": 3}'
    assert fake.s3.objects == {} or all(b != "inputs" for b, _ in fake.s3.objects)


async def test_failure_object_raises_typed_failure(rt: sm.SageMakerRuntimeClient) -> None:
    """When the failure object appears, result() raises AsyncInferenceFailure with its payload."""
    job = await rt.invoke_endpoint_async("async-ep", json={"fail": True}, inference_id="bad-1")
    with pytest.raises(sm.AsyncInferenceFailure) as info:
        await job.result(timeout=10, poll_interval=0.02)
    err = info.value
    assert err.job is job
    assert err.inference_id == "bad-1"
    assert json.loads(err.payload)["message"] == "the model fell over"
    assert "the model fell over" in str(err)


async def test_deadline_raises_timeout_with_the_job(rt: sm.SageMakerRuntimeClient) -> None:
    """No result before the deadline: AsyncInferenceTimeout carrying the job; polls bounded."""
    job = await rt.invoke_endpoint_async("slow-async", json={"x": 1})
    with pytest.raises(sm.AsyncInferenceTimeout) as info:
        await job.result(timeout=0.3, poll_interval=0.05, max_poll_interval=0.1)
    assert info.value.job is job
    assert 0.3 <= info.value.waited < 5
    assert isinstance(info.value, TimeoutError)
    assert await job.poll() is None


async def test_cancelling_a_wait_is_clean(rt: sm.SageMakerRuntimeClient) -> None:
    """Cancelling result() mid-poll leaves the client usable and the job awaitable again."""
    job = await rt.invoke_endpoint_async("slow-async", json={"x": 1})
    with anyio.move_on_after(0.2) as scope:
        await job.result(poll_interval=0.03, max_poll_interval=0.05)
    assert scope.cancelled_caught
    again = await rt.invoke_endpoint_async("async-ep", json={"x": 2})
    assert (await again.result(timeout=10, poll_interval=0.02)).json()["echo"] == {"x": 2}


async def test_default_deadline_follows_the_job() -> None:
    """The default wait is the job's own life: queue TTL + invocation timeout (+ margin)."""
    fake = _fake()
    async with fake.client() as rt:
        job = await rt.invoke_endpoint_async(
            "async-ep", json={}, request_ttl_seconds=60, invocation_timeout_seconds=30
        )
        assert job.default_deadline == 60 + 30 + 60
        plain = await rt.invoke_endpoint_async("async-ep", json={})
        assert plain.default_deadline == 21_600 + 900 + 60


async def test_access_denied_for_missing_objects() -> None:
    """Without s3:ListBucket, S3 says 403 for a missing key: an error unless told it is pending."""
    fake = _fake(missing_as_403=True)
    async with fake.client() as rt:
        job = await rt.invoke_endpoint_async("async-ep", json={"x": 1})
        with pytest.raises(sm.S3Error) as info:
            await job.poll()
        assert info.value.status_code == 403
        result = await job.result(timeout=10, poll_interval=0.02, access_denied_means_pending=True)
        assert result.json()["echo"] == {"x": 1}


ASYNC_MEMBERS = [
    ("content_type", "text/csv", "X-Amzn-SageMaker-Content-Type"),
    ("accept", "application/json", "X-Amzn-SageMaker-Accept"),
    ("custom_attributes", "k=v", "X-Amzn-SageMaker-Custom-Attributes"),
    ("inference_id", "id 7", "X-Amzn-SageMaker-Inference-Id"),
    ("request_ttl_seconds", 60, "X-Amzn-SageMaker-RequestTTLSeconds"),
    ("invocation_timeout_seconds", 3600, "X-Amzn-SageMaker-InvocationTimeoutSeconds"),
    ("s3_output_path_extension", "a/b_c.d!*'()-", "X-Amzn-SageMaker-S3OutputPathExtension"),
    ("filename", "out-1.json", "X-Amzn-SageMaker-Filename"),
]


@pytest.mark.parametrize(("param", "value", "header"), ASYNC_MEMBERS)
async def test_async_members_travel_in_their_headers(
    fake: FakeSageMakerRuntime, param: str, value: Any, header: str
) -> None:
    """Every InvokeEndpointAsync member goes in its header (integers in decimal)."""
    async with fake.client() as rt:
        kwargs: dict[str, Any] = {param: value}
        await rt.invoke_endpoint_async("async-ep", body=b"{}", **kwargs)
    assert fake.requests[-1].header(header) == str(value)


ASYNC_INVALID = [
    ({}, "input_location"),
    ({"body": b"x", "input_location": "s3://b/k"}, "body"),
    ({"body": b"x", "json": {}}, "json"),
    ({"body": b"x" * 128_001}, "body"),
    ({"json": {"p": "x" * 128_000}}, "json"),
    ({"input_location": "s3://b/k", "upload_to": "s3://b/p/"}, "upload_to"),
    ({"input_location": "ftp://b/k"}, "input_location"),
    ({"input_location": "s3://b/k", "request_ttl_seconds": 59}, "request_ttl_seconds"),
    ({"input_location": "s3://b/k", "request_ttl_seconds": 21_601}, "request_ttl_seconds"),
    ({"input_location": "s3://b/k", "request_ttl_seconds": True}, "request_ttl_seconds"),
    ({"input_location": "s3://b/k", "invocation_timeout_seconds": 0}, "invocation_timeout_seconds"),
    (
        {"input_location": "s3://b/k", "invocation_timeout_seconds": 3601},
        "invocation_timeout_seconds",
    ),
    ({"input_location": "s3://b/k", "filename": "a.b.c"}, "filename"),
    ({"input_location": "s3://b/k", "filename": "x" * 33}, "filename"),
    ({"input_location": "s3://b/k", "filename": "-x"}, "filename"),
    (
        {"input_location": "s3://b/k", "s3_output_path_extension": "s3://x"},
        "s3_output_path_extension",
    ),
    ({"input_location": "s3://b/k", "s3_output_path_extension": "a b"}, "s3_output_path_extension"),
    ({"input_location": "s3://b/k", "inference_id": "x" * 65}, "inference_id"),
]


@pytest.mark.parametrize(("kwargs", "param"), ASYNC_INVALID)
async def test_async_validation_before_io(
    fake: FakeSageMakerRuntime, kwargs: dict[str, Any], param: str
) -> None:
    """Every rule of the async operation is checked before anything is sent or uploaded."""
    async with fake.client() as rt:
        with pytest.raises(sm.ParamValidationError) as info:
            await rt.invoke_endpoint_async("async-ep", **kwargs)
    assert info.value.param == param
    assert fake.requests == []
    assert fake.s3.requests == []


async def test_service_refuses_non_async_endpoint(fake: FakeSageMakerRuntime) -> None:
    """An endpoint without async config answers ValidationError, as the service does."""
    async with fake.client() as rt:
        with pytest.raises(sm.ValidationError):
            await rt.invoke_endpoint_async("sync-only", body=b"{}")


# -- moto: a third-party server speaking SageMaker Runtime and S3 --------------------------


def _queue_async(url: str, *results: dict[str, Any]) -> None:
    with httpx.Client(trust_env=False) as api:
        api.post(f"{url}/moto-api/reset")
        api.post(
            f"{url}/moto-api/static/sagemaker/async-endpoint-results",
            json={"results": list(results)},
        ).raise_for_status()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_moto_success_and_failure(moto_url: str, transport: str) -> None:
    """Against moto: the job's output is read back from moto's S3; a failure raises typed."""
    _queue_async(
        moto_url,
        {"data": json.dumps({"first": "output"})},
        {"is_failure": True, "data": "second inference failed"},
    )
    async with sm.SageMakerRuntimeClient(
        region="us-east-1",
        endpoint_url=moto_url,
        s3_endpoint_url=moto_url,
        credentials=("AKIDMOTO", "moto-secret"),
        transport=transport,  # type: ignore[arg-type]
    ) as rt:
        ok = await rt.invoke_endpoint_async("moto-ep", input_location="s3://in/one.json")
        assert (await ok.result(timeout=10, poll_interval=0.02)).json() == {"first": "output"}
        bad = await rt.invoke_endpoint_async("moto-ep", input_location="s3://in/two.json")
        with pytest.raises(sm.AsyncInferenceFailure) as info:
            await bad.result(timeout=10, poll_interval=0.02)
        assert info.value.payload == b"second inference failed"


async def test_upload_keys_are_unique_per_call(fake: FakeSageMakerRuntime) -> None:
    """Two jobs with the same inference id never share (or overwrite) one staged input."""
    async with fake.client() as rt:
        for n in (1, 2):
            await rt.invoke_endpoint_async(
                "async-ep",
                json={"n": n, "pad": "x" * 130_000},
                upload_to="s3://inputs/s/",
                inference_id="same-id",
            )
    locations = [r.header("x-amzn-sagemaker-inputlocation") or "" for r in fake.requests]
    assert len(set(locations)) == 2
    staged = [fake.s3.get("inputs", loc.removeprefix("s3://inputs/")) for loc in locations]
    assert [json.loads(body or b"{}")["n"] for body in staged] == [1, 2]


async def test_polling_survives_transient_s3_errors(fake: FakeSageMakerRuntime) -> None:
    """A 503 SlowDown during a long wait is retried by the next poll, not fatal."""
    from sagemaker_rt_async.testing import FakeResponse

    async with fake.client() as rt:
        job = await rt.invoke_endpoint_async("async-ep", json={"x": 1})
        slow_down = FakeResponse(
            503,
            [("Content-Type", "application/xml")],
            b"<Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>",
        )
        fake.s3.queued.extend([slow_down, slow_down])
        result = await job.result(timeout=10, poll_interval=0.02)
    assert result.json()["echo"] == {"x": 1}


def test_deeply_nested_json_error_body_is_still_typed() -> None:
    """An error body nested thousands deep is a ServiceError, not a RecursionError."""
    from sagemaker_rt_async._errors import error_from_response

    err = error_from_response(400, {}, b"[" * 5000)
    assert isinstance(err, sm.ServiceError)
    assert err.status_code == 400


# -- jobs that outlive a process -------------------------------------------------------------------


async def test_job_submitted_in_one_client_is_awaited_in_another(anyio_backend: str) -> None:
    """to_dict() through JSON, then from_dict() on a fresh client: the same output, no re-submit."""
    fake = _fake()
    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url, transport="httpx") as first:
            job = await first.invoke_endpoint_async("async-ep", json={"x": 5}, inference_id="j5")
            saved = json.dumps(job.to_dict())
        submitted = len([r for r in fake.requests if r.path.endswith("/async-invocations")])
        async with fake.client(endpoint_url=server.url, transport="httpx") as second:
            again = sm.AsyncInferenceJob.from_dict(json.loads(saved), second)
            assert again.inference_id == "j5"
            assert again.output_location == job.output_location
            assert again.failure_location == job.failure_location
            result = await again.result(timeout=10, poll_interval=0.02)
            assert result.json()["echo"] == {"x": 5}
            assert result.inference_id == "j5"
    assert [r for r in fake.requests if r.path.endswith("/async-invocations")][submitted:] == []


async def test_async_job_from_locations_alone(rt: sm.SageMakerRuntimeClient) -> None:
    """async_job(output_location=..., failure_location=...) polls like the job it names."""
    ok = await rt.invoke_endpoint_async("async-ep", json={"x": 1})
    bad = await rt.invoke_endpoint_async("async-ep", json={"fail": True})
    assert ok.failure_location is not None and bad.failure_location is not None
    found = rt.async_job(output_location=ok.output_location, failure_location=ok.failure_location)
    assert found.inference_id is None
    assert (await found.result(timeout=10, poll_interval=0.02)).json()["echo"] == {"x": 1}
    failed = rt.async_job(
        output_location=bad.output_location, failure_location=bad.failure_location
    )
    with pytest.raises(sm.AsyncInferenceFailure, match="the model fell over") as info:
        await failed.result(timeout=10, poll_interval=0.02)
    assert info.value.job is failed
    pending = rt.async_job(output_location="s3://results-bucket/async/out/none.out")
    assert await pending.poll() is None


async def test_to_dict_is_json_and_complete(rt: sm.SageMakerRuntimeClient) -> None:
    """Every field a re-created job needs, as JSON values; the submission time in UTC."""
    job = await rt.invoke_endpoint_async(
        "async-ep", json={}, request_ttl_seconds=120, invocation_timeout_seconds=30
    )
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "inference_id",
        "output_location",
        "failure_location",
        "request_id",
        "submitted_at_utc",
        "request_ttl_seconds",
        "invocation_timeout_seconds",
    }
    assert data["submitted_at_utc"].endswith("Z")
    again = sm.AsyncInferenceJob.from_dict(data, rt)
    assert again.to_dict() == data
    assert again.default_deadline == job.default_deadline == 120 + 30 + 60


async def test_reattached_job_deadline_counts_from_its_submission(
    rt: sm.SageMakerRuntimeClient,
) -> None:
    """A job whose TTL and run time have passed since submission times out at once by default;
    one whose age is unknown gets its whole lifetime from now (it never gives up early)."""
    job = await rt.invoke_endpoint_async("slow-async", json={"x": 1})
    data = job.to_dict() | {
        "submitted_at_utc": "2020-01-01T00:00:00Z",
        "request_ttl_seconds": 60,
        "invocation_timeout_seconds": 60,
    }
    with anyio.fail_after(5):
        with pytest.raises(sm.AsyncInferenceTimeout):
            await sm.AsyncInferenceJob.from_dict(data, rt).result(poll_interval=0.02)
    unknown = rt.async_job(output_location=job.output_location)
    with anyio.move_on_after(0.3) as scope:
        await unknown.result(poll_interval=0.02, max_poll_interval=0.05)
    assert scope.cancelled_caught  # still waiting: not timed out


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"inference_id": "x"}, "output_location"),
        ({"output_location": "s3://b/k", "extra": 1}, "data"),
        ({"output_location": 7}, "output_location"),
        ({"output_location": "not-a-uri"}, "output_location"),
        ({"output_location": "s3://b/k", "failure_location": "http:/x"}, "failure_location"),
        ({"output_location": "s3://b/k", "request_ttl_seconds": "60"}, "request_ttl_seconds"),
        ({"output_location": "s3://b/k", "submitted_at_utc": "yesterday"}, "submitted_at_utc"),
        (
            {"output_location": "s3://b/k", "submitted_at_utc": "2026-01-01T00:00:00"},
            "submitted_at_utc",
        ),
    ],
)
async def test_from_dict_refuses_what_to_dict_never_made(
    rt: sm.SageMakerRuntimeClient, data: dict[str, Any], param: str
) -> None:
    """A mapping from a corrupted queue message: ParamValidationError naming the field, no I/O."""
    with pytest.raises(sm.ParamValidationError) as info:
        sm.AsyncInferenceJob.from_dict(data, rt)
    assert info.value.param == param


# -- a wait that S3 stops answering ----------------------------------------------------------------


async def test_a_wait_gives_up_when_s3_stops_answering(anyio_backend: str) -> None:
    """The server goes away mid-wait (every poll's connection refused): after
    max_unreachable_seconds of failed polls the wait ends with a TransportError that names the
    outage and the output location, long before the job's own 6-hour deadline."""
    fake = _fake()
    server = fake.serve().start()
    try:
        async with fake.client(endpoint_url=server.url, transport="httpx") as rt:
            job = await rt.invoke_endpoint_async("slow-async", json={"x": 1})
            server.stop()
            start = anyio.current_time()
            with anyio.fail_after(10), pytest.raises(sm.TransportError) as info:
                await job.result(
                    poll_interval=0.02, max_poll_interval=0.05, max_unreachable_seconds=0.3
                )
    finally:
        server.stop()
    assert anyio.current_time() - start >= 0.3
    message = str(info.value)
    assert "S3 unreachable for" in message and job.output_location in message
    assert isinstance(info.value.__cause__, sm.TransportError)


async def test_a_wait_gives_up_on_a_black_holed_s3(anyio_backend: str) -> None:
    """S3 accepts connections and never answers (each poll ends in a read timeout): at least
    three polls in a row must fail and the bound must pass before the wait gives up, with a
    TransportError chained to the last RequestTimeout."""
    accepted: list[anyio.abc.SocketStream] = []

    async def swallow(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream)
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            while await stream.receive():
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    url = f"http://127.0.0.1:{port}"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, swallow)
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            credentials=("AKIDEXAMPLE", "secret"),
            endpoint_url=url,
            s3_endpoint_url=url,
            timeout=0.1,
        ) as rt:
            job = rt.async_job(output_location="s3://results-bucket/async/out/j.out")
            with anyio.fail_after(10), pytest.raises(sm.TransportError) as info:
                await job.result(
                    poll_interval=0.01, max_poll_interval=0.02, max_unreachable_seconds=0.05
                )
        tg.cancel_scope.cancel()
    assert "3 polls in a row failed" in str(info.value)
    assert isinstance(info.value.__cause__, sm.RequestTimeout)
    assert len(accepted) >= 3
    for stream in accepted:
        await stream.aclose()


async def test_a_lasting_slow_down_ends_the_wait_with_s3s_own_error(
    fake: FakeSageMakerRuntime,
) -> None:
    """S3 answering 503 SlowDown poll after poll: past the bound, the wait raises that S3Error
    (S3's own code and message); a shorter run of them is waited through (see above)."""
    from sagemaker_rt_async.testing import FakeResponse

    slow_down = FakeResponse(
        503,
        [("Content-Type", "application/xml")],
        b"<Error><Code>SlowDown</Code><Message>Reduce your rate.</Message></Error>",
    )
    async with fake.client() as rt:
        job = await rt.invoke_endpoint_async("slow-async", json={"x": 1})
        fake.s3.queued.extend([slow_down] * 200)
        with anyio.fail_after(10), pytest.raises(sm.S3Error) as info:
            await job.result(
                poll_interval=0.01, max_poll_interval=0.02, max_unreachable_seconds=0.1
            )
    assert info.value.error_code == "SlowDown"
    assert len(fake.s3.queued) < 200 - 3


@pytest.mark.parametrize("value", [0, -1.0])
async def test_max_unreachable_seconds_is_checked_before_polling(
    fake: FakeSageMakerRuntime, value: float
) -> None:
    """A bound that is not positive is refused before any poll."""
    async with fake.client() as rt:
        job = rt.async_job(output_location="s3://results-bucket/async/out/j.out")
        sent = len(fake.s3.requests)
        with pytest.raises(sm.ParamValidationError) as info:
            await job.result(max_unreachable_seconds=value)
    assert info.value.param == "max_unreachable_seconds"
    assert len(fake.s3.requests) == sent
