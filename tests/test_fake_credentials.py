"""The fake with ``accept_any_credentials``: any key signs, but a request must still be well signed.

That is what moto and LocalStack do, and what ``sagemaker-rt serve-fake`` does by default; the
pytest fixtures keep checking signatures against the fake's keys (tests/test_plugin.py).
"""

from __future__ import annotations

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation

pytestmark = pytest.mark.anyio

OTHER = sm.Credentials("AKIAOTHERUSERKEY0001", "someone-elses-secret", "their-session-token")


def _fake(accept_any: bool) -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime(accept_any_credentials=accept_any)

    def model(invocation: Invocation) -> bytes:
        return invocation.body

    fake.add_endpoint("echo")
    fake.add_endpoint("job", model, async_output_path="s3://out/jobs", processing_time=0.01)
    return fake


async def test_any_credentials_work_for_sagemaker_and_s3(anyio_backend: str) -> None:
    """Other keys with a session token: InvokeEndpoint, an upload and an async job all pass."""
    fake = _fake(accept_any=True)
    with fake.serve() as server:
        async with fake.client(endpoint_url=server.url, credentials=OTHER, transport="httpx") as rt:
            assert (await rt.invoke_endpoint("echo", b"hi")).body == b"hi"
            job = await rt.invoke_endpoint_async(
                "job", body=b"x" * 130_000, upload_to="s3://in/staging/"
            )
            assert (await job.result(timeout=10, poll_interval=0.02)).body == b"x" * 130_000
    assert fake.requests[0].text == "hi"


@pytest.mark.parametrize(
    ("region", "error"),
    [("eu-west-1", "InvalidSignatureException")],  # scoped to another region than the fake's
)
async def test_a_badly_scoped_signature_is_still_refused(
    anyio_backend: str, region: str, error: str
) -> None:
    """Accepting any key is not accepting anything: a request scoped to the wrong region fails."""
    fake = _fake(accept_any=True)
    with fake.serve() as server:
        async with sm.SageMakerRuntimeClient(
            region=region,
            endpoint_url=server.url,
            credentials=OTHER,
            transport="httpx",
            retry=False,
        ) as rt:
            with pytest.raises(sm.ServiceError) as info:
                await rt.invoke_endpoint("echo", b"hi")
    assert info.value.error_code == error


async def test_without_it_other_keys_are_refused(anyio_backend: str) -> None:
    """The default fake knows one key: another gets the service's 403."""
    fake = _fake(accept_any=False)
    async with fake.client(credentials=OTHER, retry=False) as rt:
        with pytest.raises(sm.AuthenticationError):
            await rt.invoke_endpoint("echo", b"hi")


async def test_recorded_request_json(anyio_backend: str) -> None:
    """RecordedRequest.json() parses the body, as Invocation.json() does."""
    fake = _fake(accept_any=False)
    async with fake.client() as rt:
        await rt.invoke_endpoint("echo", json={"inputs": [1, 2]})
    assert fake.requests[-1].json() == {"inputs": [1, 2]}
