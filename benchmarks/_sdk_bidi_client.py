"""The official SDK's side of bench_bidi.py, run by a Python >= 3.12 interpreter that has
``aws-sdk-sagemaker-runtime-http2`` and ``awscrt`` installed (a separate venv).

Echo round trips of SIZE-byte events over one session, against the fake's TLS endpoint; prints
one JSON line: each round trip's latency and the client process's CPU time for the loop.
Not part of the package or its tests (it cannot import our code, nor we its).
"""

import asyncio
import json
import sys
import time


async def main(url: str, ca_path: str, size: int, count: int) -> None:
    from aws_sdk_sagemaker_runtime_http2.client import AsyncSageMakerRuntimeHTTP2Client
    from aws_sdk_sagemaker_runtime_http2.config import AsyncSageMakerRuntimeHTTP2Config as Config
    from aws_sdk_sagemaker_runtime_http2.models import (
        InvokeEndpointWithBidirectionalStreamInput,
        RequestPayloadPart,
        RequestStreamEventPayloadPart,
    )
    from awscrt.io import ClientTlsContext, TlsContextOptions
    from smithy_aws_core.identity.environment import EnvironmentCredentialsResolver
    from smithy_http.aio.crt import AWSCRTHTTPClient

    transport = AWSCRTHTTPClient()
    options = TlsContextOptions()
    options.override_default_trust_store_from_path(ca_filepath=ca_path)
    transport._tls_ctx = ClientTlsContext(options)  # test-only, as the spec's §12 says
    config = await Config.resolve(
        endpoint_uri=url,
        region="us-east-1",
        aws_credentials_identity_resolver=EnvironmentCredentialsResolver(),
        transport=transport,
    )
    client = AsyncSageMakerRuntimeHTTP2Client(config=config)
    stream = await client.invoke_endpoint_with_bidirectional_stream(
        InvokeEndpointWithBidirectionalStreamInput(endpoint_name="echo")
    )
    payload = b"x" * size
    _, output = await stream.await_output()
    latencies = []
    cpu0 = time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        await stream.input_stream.send(
            RequestStreamEventPayloadPart(
                value=RequestPayloadPart(
                    bytes_=payload, data_type="BINARY", completion_state="COMPLETE"
                )
            )
        )
        got = 0
        while got < size:
            event = await output.receive()
            got += len(event.value.bytes_ or b"")
        latencies.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu0
    await stream.input_stream.close()
    print(json.dumps({"latencies": latencies, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
