"""Secret keys, session tokens and signatures never reach a repr, str, log record or error."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import sagemaker_rt_async as sm
from sagemaker_rt_async.testing import FakeSageMakerRuntime, Invocation, ModelFailure, StreamFault

pytestmark = pytest.mark.anyio

SECRET = "SUPERSECRETKEY-abcdef-123456"
TOKEN = "SESSIONTOKEN-zyxwv-987654"
CREDS = sm.Credentials("AKIDSCAN000000000001", SECRET, TOKEN)


def _fake() -> FakeSageMakerRuntime:
    fake = FakeSageMakerRuntime(credentials=CREDS)
    fake.add_endpoint("ok", async_output_path="s3://out/x", async_failure_path="s3://out/f")

    @fake.endpoint("bad")
    def bad(inv: Invocation) -> bytes:
        raise ModelFailure(500, "boom")

    @fake.endpoint("stream")
    async def stream(inv: Invocation) -> Any:
        yield b"a"
        yield StreamFault.corrupt_crc(b"b")

    return fake


async def test_nothing_captured_in_a_run_contains_a_secret(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """Every operation, success and failure, with DEBUG logging on for us and every engine."""
    caplog.set_level(logging.DEBUG)
    fake = _fake()
    seen: list[str] = []

    def keep(*objects: object) -> None:
        seen.extend(text for obj in objects for text in (repr(obj), str(obj)))

    async def expect_error(call: Any) -> None:
        try:
            await call()
        except sm.SageMakerRuntimeError as exc:
            keep(exc, exc.__cause__)
        else:
            raise AssertionError("expected an error")

    with fake.serve() as srv:
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            s3_endpoint_url=srv.url,
            credentials=CREDS,
            transport=transport,  # type: ignore[arg-type]
        ) as rt:
            keep(rt, CREDS, await rt.invoke_endpoint("ok", b"x"))
            await expect_error(lambda: rt.invoke_endpoint("bad", b"x"))
            await expect_error(lambda: rt.invoke_endpoint("ok", b"x", accept="a\r\nb"))

            async def consume() -> None:
                async with rt.invoke_endpoint_with_response_stream("stream", b"") as s:
                    keep(s)
                    async for _ in s:
                        pass

            await expect_error(consume)
            job = await rt.invoke_endpoint_async("ok", body=b"{}")
            keep(job, await job.result(timeout=10, poll_interval=0.02))
        async with sm.SageMakerRuntimeClient(
            region="us-east-1",
            endpoint_url=srv.url,
            credentials=(CREDS.access_key_id, "wrong-" + SECRET, TOKEN),
            transport=transport,  # type: ignore[arg-type]
        ) as rt:
            await expect_error(lambda: rt.invoke_endpoint("ok", b"x"))
    keep(*fake.requests, *fake.s3.requests)
    blob = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert len(caplog.records) > 0  # the engines did log at DEBUG
    assert SECRET not in blob
    assert TOKEN not in blob
    leaked = [line for line in blob.splitlines() if "Signature=" in line]
    assert all("Signature=<hidden>" in line for line in leaked), leaked[:3]
