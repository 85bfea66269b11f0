"""Decoder and signer micro-benchmarks: ours vs botocore vs the floor, measured in one run.

Event-stream decoding, five workloads of PayloadPart messages built by ``payload_part``:

* ``64B x1``   64-byte payloads, one message per ``feed`` (a token stream read as it arrives);
* ``64B mix``  64-byte payloads as a socket delivers a token stream (seeded, the same chunks
               for every contender): 60 % of reads hold one message, 40 % a burst of 2–16;
               one read in ten ends inside a message and the next read brings the rest (the
               sender writes whole messages, so the boundary re-aligns after it);
* ``64B adversarial``  informational, no target: chunk sizes of 1 or 2–16 messages, or
               1–3 messages' worth of bytes, with misalignment that persists (a quarter of the
               messages straddle two chunks); the worst case for buffering, not a socket's;
* ``64KiB x1`` 64 KiB payloads, one whole message per ``feed``;
* ``64KiB/16K`` 64 KiB payloads fed in 16 KiB chunks (every message spans five feeds).

Contenders, interleaved within each round (ours, botocore, floor, ours, ...):

* ours:     ``EventStreamDecoder().feed(chunk)`` -> messages;
* botocore: ``EventStreamBuffer().add_data(chunk)`` then iterate it (what aiobotocore does);
* floor:    ``zlib.crc32`` twice over the same bytes, per chunk: the checksum work a decoder
            cannot avoid (prelude + message CRC), with no parsing and no allocation at all.

Both decoders hand out message objects and the consumer reads ``.payload`` of each.
Reported: messages/s (64 B) and wire MB/s (64 KiB), median and min–max over rounds. Ratios are
the median of the per-round ratios (each round times the contenders back to back, so drift of
the shared machine cancels), with their min–max.

Signer: ``_sigv4.sign_headers`` (with ``sha256_hex(body)`` and ``datetime.now``, as the client
calls it) vs ``botocore.auth.SigV4Auth.add_auth`` on the same request; both produce the same
``Authorization`` (checked before timing).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import math
import random
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timezone

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from _common import (
    Figure,
    Target,
    machine_note,
    median,
    print_row,
    print_targets,
    write_results,
)
from botocore.eventstream import EventStreamBuffer

from sagemaker_rt_async._eventstream import EventStreamDecoder, payload_part
from sagemaker_rt_async._sigv4 import sha256_hex, sign_headers

_TARGET_SECONDS = 0.04  # one contender's timed batch in one round


# ------------------------------------------------------------------------------ workloads


def _small_stream(count: int) -> list[bytes]:
    rng = random.Random(64)
    return [payload_part(rng.randbytes(64)) for _ in range(count)]


def _mixed_chunks(messages: list[bytes], seed: int = 7) -> list[bytes]:
    """Chunks as a socket delivers a token stream: see ``64B mix`` in the module docstring."""
    rng = random.Random(seed)
    chunks: list[bytes] = []
    i = 0
    while i < len(messages):
        pick = rng.random()
        count = 1 if pick < 0.6 else rng.randint(2, 16)
        group = b"".join(messages[i : i + count])
        i += count
        if pick >= 0.9:
            # The read ended inside a message; the next read starts there and, the sender
            # writing whole messages, ends on a message boundary again.
            cut = rng.randint(1, len(group) - 1)
            chunks += (group[:cut], group[cut:])
        else:
            chunks.append(group)
    return chunks


def _adversarial_chunks(messages: list[bytes], seed: int = 7) -> list[bytes]:
    """Chunk sizes of 1, 2-16 or 0-3 messages' worth of bytes with misalignment that persists."""
    stream = b"".join(messages)
    unit = len(messages[0])
    rng = random.Random(seed)
    chunks: list[bytes] = []
    pos = 0
    while pos < len(stream):
        pick = rng.random()
        if pick < 0.5:
            size = unit
        elif pick < 0.85:
            size = unit * rng.randint(2, 16)
        else:
            size = rng.randint(1, 3 * unit)
        chunks.append(stream[pos : pos + size])
        pos += size
    return chunks


def _straddling(messages: list[bytes], chunks: list[bytes]) -> int:
    """How many messages have a chunk boundary inside them."""
    ends = list(itertools.accumulate(map(len, chunks)))
    count = pos = 0
    for message in messages:
        nxt = bisect.bisect_right(ends, pos)
        count += nxt < len(ends) and ends[nxt] < pos + len(message)
        pos += len(message)
    return count


def _large_stream(count: int) -> list[bytes]:
    rng = random.Random(65536)
    return [payload_part(rng.randbytes(64 * 1024)) for _ in range(count)]


def _split(messages: list[bytes], size: int) -> list[bytes]:
    stream = b"".join(messages)
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# ------------------------------------------------------------------------------ contenders


def run_ours(chunks: list[bytes]) -> int:
    decoder = EventStreamDecoder()
    total = 0
    for chunk in chunks:
        for message in decoder.feed(chunk):
            total += len(message.payload)
    decoder.close()
    return total


def run_botocore(chunks: list[bytes]) -> int:
    buffer = EventStreamBuffer()
    total = 0
    for chunk in chunks:
        buffer.add_data(chunk)
        for message in buffer:
            total += len(message.payload)
    return total


def run_floor(chunks: list[bytes]) -> int:
    crc = zlib.crc32
    total = 0
    for chunk in chunks:
        total += crc(chunk) & 1
        total += crc(chunk) & 1
    return total


def _time(fn: Callable[[], object], reps: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def _calibrate(fn: Callable[[], object]) -> int:
    fn()  # warm-up: imports, caches, allocator
    once = _time(fn, 1)
    return max(1, math.ceil(_TARGET_SECONDS / max(once, 1e-6)))


def bench_decoders(
    label: str,
    chunks: list[bytes],
    messages: list[bytes],
    rounds: int,
    unit: str,
) -> dict[str, list[float]]:
    """Rates per round for each contender; ``unit`` is ``msg/s`` or ``MB/s``."""
    contenders = {
        "ours": lambda: run_ours(chunks),
        "botocore": lambda: run_botocore(chunks),
        "floor": lambda: run_floor(chunks),
    }
    # Both decoders must see the same messages before anything is timed.
    ours_bytes, boto_bytes = run_ours(chunks), run_botocore(chunks)
    if ours_bytes != boto_bytes or ours_bytes == 0:
        raise SystemExit(f"{label}: decoders disagree ({ours_bytes} vs {boto_bytes} bytes)")
    reps = {name: _calibrate(fn) for name, fn in contenders.items()}
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    wire_bytes = sum(map(len, messages))
    amount = len(messages) if unit == "msg/s" else wire_bytes / 1e6
    for _ in range(rounds):
        for name, fn in contenders.items():
            rates[name].append(amount / _time(fn, reps[name]))
    print(
        f"{label}  ({len(messages)} messages, {len(chunks)} chunks, "
        f"{_straddling(messages, chunks)} messages split across chunks, "
        f"{wire_bytes / 1e6:.2f} MB wire)"
    )
    for name, values in rates.items():
        print_row(name, values, unit)
    return rates


# ------------------------------------------------------------------------------ signer

_HOST = "runtime.sagemaker.us-east-1.amazonaws.com"
_PATH = "/endpoints/my-llm-endpoint/invocations-response-stream"
_BODY = b'{"inputs": "Tell me a story about a benchmark.", "parameters": {"max_new_tokens": 256}}'
_MEMBERS = [("Content-Type", "application/json"), ("X-Amzn-SageMaker-Accept", "application/json")]
_AKID, _SECRET = "AKIDEXAMPLE0000BENCH", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _botocore_signer() -> tuple[botocore.auth.SigV4Auth, botocore.awsrequest.AWSRequest]:
    creds = botocore.credentials.Credentials(_AKID, _SECRET)
    signer = botocore.auth.SigV4Auth(creds, "sagemaker", "us-east-1")
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=f"https://{_HOST}{_PATH}", headers=dict(_MEMBERS), data=_BODY
    )
    return signer, request


def ours_sign(now: datetime | None = None) -> list[tuple[str, str]]:
    return sign_headers(
        method="POST",
        path=_PATH,
        headers=[("host", _HOST), *_MEMBERS],
        payload_hash=sha256_hex(_BODY),
        access_key=_AKID,
        secret_key=_SECRET,
        session_token=None,
        region="us-east-1",
        service="sagemaker",
        now=now or datetime.now(timezone.utc),
    )


def bench_signer(rounds: int) -> list[float]:
    signer, request = _botocore_signer()
    signer.add_auth(request)
    stamp = datetime.strptime(request.context["timestamp"], "%Y%m%dT%H%M%SZ")
    ours = dict(ours_sign(stamp.replace(tzinfo=timezone.utc)))
    if ours["Authorization"] != request.headers["Authorization"]:
        raise SystemExit("signer: ours and botocore sign the request differently")

    contenders: dict[str, Callable[[], object]] = {
        "ours sign_headers": lambda: ours_sign(),
        "botocore add_auth": lambda: signer.add_auth(request),
    }
    batch = 200

    def batched(fn: Callable[[], object]) -> Callable[[], object]:
        return lambda: [fn() for _ in range(batch)]

    reps = {name: _calibrate(batched(fn)) for name, fn in contenders.items()}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(_time(batched(fn), reps[name]) / batch)
    print("SigV4 signing of one InvokeEndpointWithResponseStream request")
    for name, values in times.items():
        print_row(name, [1 / t for t in values], "signs/s")
        print(f"  {'':<34} median {median(values) * 1e6:7.1f} µs/sign")
    return [
        o / b for o, b in zip(times["ours sign_headers"], times["botocore add_auth"], strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (>= 7)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args()
    rounds = max(7, args.rounds)
    print(f"bench_decoder: {rounds} interleaved rounds; {machine_note()}\n")

    small = _small_stream(4000)
    large = _large_stream(48)
    r_small = bench_decoders("64B x1", small, small, rounds, "msg/s")
    r_mix = bench_decoders("64B mix", _mixed_chunks(small), small, rounds, "msg/s")
    r_adv = bench_decoders("64B adversarial", _adversarial_chunks(small), small, rounds, "msg/s")
    r_large = bench_decoders("64KiB x1", large, large, rounds, "MB/s")
    r_split = bench_decoders("64KiB/16K", _split(large, 16 * 1024), large, rounds, "MB/s")
    print()
    sign_ratios = bench_signer(rounds)

    def ratios(rates: dict[str, list[float]], other: str) -> list[float]:
        return [o / b for o, b in zip(rates["ours"], rates[other], strict=True)]

    print("\nratios (median of per-round ratios):")
    figures: list[Figure] = []
    for label, rates in (
        ("64B x1", r_small),
        ("64B mix", r_mix),
        ("64B adversarial", r_adv),
        ("64KiB x1", r_large),
        ("64KiB/16K", r_split),
    ):
        vs_boto, vs_floor = ratios(rates, "botocore"), ratios(rates, "floor")
        print(
            f"  {label:<16} ours/botocore {median(vs_boto):6.2f}x   ours/floor "
            f"{median(vs_floor):5.2f}x"
        )
        if label in ("64B adversarial", "64KiB x1"):
            figures.append(Figure(f"decoder_{label.replace(' ', '_')} ours/botocore", vs_boto))
    targets = [
        Target("decoder_64B_per_chunk ours/botocore", ratios(r_small, "botocore"), 5.0),
        Target("decoder_64B_mix ours/botocore", ratios(r_mix, "botocore"), 5.0),
        Target("decoder_64KiB_whole ours/floor", ratios(r_large, "floor"), 0.9),
        Target("decoder_64KiB_16KiB_chunks ours/floor", ratios(r_split, "floor"), 0.9),
        Target("sigv4 ours/botocore time", sign_ratios, 0.2, at_most=True),
    ]
    print_targets(targets)
    write_results(args.json, "bench_decoder", targets, figures)


if __name__ == "__main__":
    main()
