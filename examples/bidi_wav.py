"""Stream a WAV file to a speech model in 20 ms chunks and print what comes back, live.

InvokeEndpointWithBidirectionalStream: one task sends the audio at its real pace while the
main task prints the model's answers as they arrive (true duplex: the first answer is printed
long before the last chunk is sent). Without a WAV file, one second of a 440 Hz tone is made.

Against the toy transcriber of the test kit, in one command::

    .venv/bin/python examples/bidi_wav.py --fake
    .venv/bin/python examples/bidi_wav.py --fake speech.wav --realtime

Against a real endpoint (credentials and region from the usual AWS places)::

    AWS_REGION=us-east-1 python examples/bidi_wav.py speech.wav --endpoint my-voice-endpoint
"""

from __future__ import annotations

import argparse
import io
import math
import os
import struct
import wave
from pathlib import Path

import anyio

from sagemaker_rt_async import BidiSession, SageMakerRuntimeClient

CHUNK_MS = 20


def tone_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone (stand-in audio)."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def pcm_chunks(wav_bytes: bytes, chunk_ms: int = CHUNK_MS) -> list[bytes]:
    """The WAV's PCM frames cut into ``chunk_ms`` pieces (what speech models take)."""
    with wave.open(io.BytesIO(wav_bytes), "rb") as source:
        per_chunk = source.getframerate() * chunk_ms // 1000
        width = source.getsampwidth() * source.getnchannels()
        pcm = source.readframes(source.getnframes())
    size = per_chunk * width
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


async def stream_audio(session: BidiSession, chunks: list[bytes], *, realtime: bool) -> None:
    """Send each chunk (at the audio's own pace if ``realtime``), then end the input."""
    for chunk in chunks:
        await session.send(chunk)  # waits when the model reads slower than we send
        if realtime:
            await anyio.sleep(CHUNK_MS / 1000)
    await session.end_input()


async def transcribe(
    rt: SageMakerRuntimeClient, endpoint: str, chunks: list[bytes], *, realtime: bool
) -> list[str]:
    """Stream the chunks and print each text answer as it arrives; return them all."""
    lines: list[str] = []
    async with (
        rt.invoke_endpoint_with_bidirectional_stream(endpoint) as session,
        anyio.create_task_group() as group,
    ):
        group.start_soon(lambda: stream_audio(session, chunks, realtime=realtime))
        async for message in session.messages():  # fragmented answers joined
            text = message if isinstance(message, str) else f"<{len(message)} bytes>"
            print(text, flush=True)
            lines.append(text)
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav", nargs="?", type=Path, help="a WAV file (default: a 1 s tone)")
    parser.add_argument("--endpoint", default=os.environ.get("SAGEMAKER_ENDPOINT_NAME"))
    parser.add_argument("--fake", action="store_true", help="use the test kit's transcriber")
    parser.add_argument("--realtime", action="store_true", help="send at the audio's pace")
    args = parser.parse_args()
    audio = await anyio.Path(args.wav).read_bytes() if args.wav else tone_wav()
    chunks = pcm_chunks(audio)
    if args.fake:
        from sagemaker_rt_async.testing import TEST_CREDENTIALS, FakeBidiServer

        with FakeBidiServer() as server:
            async with SageMakerRuntimeClient(
                region=server.region, endpoint_url=server.url, credentials=TEST_CREDENTIALS
            ) as rt:
                await transcribe(rt, args.endpoint or "transcriber", chunks, realtime=args.realtime)
        return
    if not args.endpoint:
        parser.error("pass --endpoint (or set SAGEMAKER_ENDPOINT_NAME), or --fake")
    async with SageMakerRuntimeClient() as rt:
        await transcribe(rt, args.endpoint, chunks, realtime=args.realtime)


if __name__ == "__main__":
    anyio.run(main)
