"""Token decoding: CPU per token through ``stream.tokens()`` vs a json.loads-per-line floor.

Three workloads of 2,000 generated tokens each, written as the servers write them (see
tests/test_tokens.py for the sources), one event or line per PayloadPart as a token stream
arrives:

* ``TGI SSE``      axum's ``data:{"index",...,"token":{...},"generated_text":null,...}`` + blank
                   line; the last event has ``generated_text`` and ``details``;
* ``OpenAI SSE``   vLLM's ``data: {"id",...,"choices":[{"index":0,"delta":{"content":...},...}]}``
                   chunks, a usage chunk and ``data: [DONE]``;
* ``LMI lines``    DJL-LMI's ``{"token": {"id", "text", "log_prob"}}`` JSON lines.

Contenders, interleaved within each round (tokens(), decoder, floor, tokens(), ...):

* tokens():  ``async for token in TokenStream(...)`` — the iterator ``stream.tokens()`` returns,
             over a stand-in stream that hands out the pre-made parts (no network, no event-
             stream decoding: those are measured by bench_stream.py / bench_decoder.py), run on
             an asyncio loop; ``format="auto"`` with the content type the server sends;
* decoder:   the sans-IO ``TokenDecoder`` alone, ``feed(part)`` per part then ``close()``;
* floor:     the lines already split (and the ``data:`` prefix already known), one
             ``json.loads`` per JSON line: the parsing no decoder can avoid, with no framing,
             no UTF-8 decoding across parts, no interpretation and no Token objects.

Reported per workload: tokens/s (wall) and CPU µs per token (``time.process_time``), median
and spread over rounds; the target is the median of per-round ratios of CPU per token,
tokens() ÷ floor, at most 2.0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import time
from collections.abc import Callable
from typing import Any

from _common import Figure, Target, machine_note, median, print_row, print_targets, write_results

from sagemaker_rt_async._errors import StreamError
from sagemaker_rt_async._streaming import TokenStream
from sagemaker_rt_async._tokens import TokenDecoder

_TARGET_SECONDS = 0.05  # one contender's timed batch in one round
_TOKENS = 2000
_WORDS = [" the", " café", " model", " 日本", " stream", " token", " of", " 🚀", ",", " and"]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _texts() -> list[str]:
    rng = random.Random(2000)
    return [rng.choice(_WORDS) for _ in range(_TOKENS)]


def tgi_parts() -> list[bytes]:
    rng = random.Random(1)
    parts = []
    texts = _texts()
    for i, text in enumerate(texts):
        event: dict[str, Any] = {
            "index": i + 1,
            "token": {
                "id": rng.randrange(32000),
                "text": text,
                "logprob": -rng.random(),
                "special": False,
            },
            "generated_text": None,
            "details": None,
        }
        if i == len(texts) - 1:
            event["generated_text"] = "".join(texts)
            event["details"] = {
                "finish_reason": "length",
                "generated_tokens": _TOKENS,
                "seed": None,
                "input_length": 12,
            }
        parts.append(f"data:{_compact(event)}\n\n".encode())
    return parts


def openai_parts() -> list[bytes]:
    parts = []
    texts = _texts()
    for i, text in enumerate(texts):
        finish = "length" if i == len(texts) - 1 else None
        chunk = {
            "id": "chatcmpl-5f8a1c",
            "object": "chat.completion.chunk",
            "created": 1733000000,
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "choices": [
                {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}
            ],
        }
        parts.append(f"data: {_compact(chunk)}\n\n".encode())
    usage = {"prompt_tokens": 12, "completion_tokens": _TOKENS, "total_tokens": _TOKENS + 12}
    last = {
        "id": "chatcmpl-5f8a1c",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": usage,
    }
    parts.append(f"data: {_compact(last)}\n\n".encode())
    parts.append(b"data: [DONE]\n\n")
    return parts


def lmi_parts() -> list[bytes]:
    rng = random.Random(3)
    parts = []
    texts = _texts()
    for i, text in enumerate(texts):
        line: dict[str, Any] = {
            "token": {"id": rng.randrange(32000), "text": text, "log_prob": -rng.random()}
        }
        if i == len(texts) - 1:
            line["generated_text"] = "".join(texts)
        parts.append((json.dumps(line, ensure_ascii=False) + "\n").encode())
    return parts


# ------------------------------------------------------------------------------ contenders


class _Parts:
    """What ``TokenStream`` uses of a ``ResponseStream``: parts in order, then the end."""

    def __init__(self, parts: list[bytes], content_type: str) -> None:
        self._parts = iter(parts)
        self.content_type = content_type
        self._trace = None

    async def __anext__(self) -> bytes:
        try:
            return next(self._parts)
        except StopIteration:
            raise StopAsyncIteration from None

    async def _close(self, exc: BaseException | None) -> None:
        return None

    def _annotate(self, exc: StreamError) -> StreamError:
        return exc


def run_tokens(loop: asyncio.AbstractEventLoop, parts: list[bytes], content_type: str) -> int:
    async def consume() -> int:
        count = 0
        async for token in TokenStream(_Parts(parts, content_type), "auto"):  # type: ignore[arg-type]
            count += token.text != ""
        return count

    return loop.run_until_complete(consume())


def run_decoder(parts: list[bytes], content_type: str) -> int:
    decoder = TokenDecoder("auto", content_type=content_type)
    count = 0
    for part in parts:
        for token in decoder.feed(part):
            count += token.text != ""
    for token in decoder.close():
        count += token.text != ""
    return count


def floor_lines(parts: list[bytes]) -> list[str]:
    """The JSON text of each line, split and stripped of ``data:`` beforehand (untimed)."""
    out = []
    for line in b"".join(parts).decode().splitlines():
        if line.startswith("data:"):
            line = line[5:]
        if line.strip() and line.strip() != "[DONE]":
            out.append(line)
    return out


def run_floor(lines: list[str]) -> int:
    loads = json.loads
    count = 0
    for line in lines:
        count += loads(line) is not None
    return count


def _time(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call of ``fn``, over ``reps`` calls."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - wall) / reps, (time.process_time() - cpu) / reps


def _calibrate(fn: Callable[[], object]) -> int:
    fn()  # warm-up
    wall, _ = _time(fn, 1)
    return max(1, math.ceil(_TARGET_SECONDS / max(wall, 1e-6)))


def bench(
    label: str, parts: list[bytes], content_type: str, rounds: int, loop: asyncio.AbstractEventLoop
) -> dict[str, list[float]]:
    """CPU seconds per token of each contender, per round; prints tokens/s and µs/token."""
    lines = floor_lines(parts)
    contenders: dict[str, Callable[[], int]] = {
        "tokens()": lambda: run_tokens(loop, parts, content_type),
        "decoder": lambda: run_decoder(parts, content_type),
        "floor": lambda: run_floor(lines),
    }
    counts = {name: fn() for name, fn in contenders.items()}
    if counts["tokens()"] != _TOKENS or counts["decoder"] != _TOKENS:
        raise SystemExit(f"{label}: expected {_TOKENS} tokens, got {counts}")
    reps = {name: _calibrate(fn) for name, fn in contenders.items()}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    rate: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            wall, used = _time(fn, reps[name])
            rate[name].append(_TOKENS / wall)
            cpu[name].append(used / _TOKENS)
    print(f"{label}  ({_TOKENS} tokens, {len(parts)} parts, {sum(map(len, parts)) / 1e3:.0f} kB)")
    for name in contenders:
        print_row(name, rate[name], "tokens/s")
        print(f"  {'':<34} median {median(cpu[name]) * 1e6:7.2f} µs CPU/token")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (>= 7)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = parser.parse_args()
    rounds = max(7, args.rounds)
    print(f"bench_tokens: {rounds} interleaved rounds; {machine_note()}\n")
    loop = asyncio.new_event_loop()
    try:
        workloads = {
            "tgi_sse": ("TGI SSE", tgi_parts(), "text/event-stream"),
            "openai_sse": ("OpenAI SSE", openai_parts(), "text/event-stream"),
            "lmi_lines": ("LMI lines", lmi_parts(), "application/jsonlines"),
        }
        results = {
            key: bench(label, parts, ctype, rounds, loop)
            for key, (label, parts, ctype) in workloads.items()
        }
    finally:
        loop.close()

    def ratios(cpu: dict[str, list[float]], ours: str) -> list[float]:
        return [o / f for o, f in zip(cpu[ours], cpu["floor"], strict=True)]

    print("\nCPU per token ÷ the floor's (median of per-round ratios):")
    targets: list[Target] = []
    figures: list[Figure] = []
    for key, (label, _, _) in workloads.items():
        via_tokens, via_decoder = ratios(results[key], "tokens()"), ratios(results[key], "decoder")
        print(
            f"  {label:<12} tokens() {median(via_tokens):5.2f}x"
            f"   decoder {median(via_decoder):5.2f}x"
        )
        targets.append(
            Target(f"tokens_{key} CPU/token tokens()/floor", via_tokens, 2.0, at_most=True)
        )
        figures.append(Figure(f"tokens_{key} CPU/token decoder/floor", via_decoder))
        figures.append(
            Figure(
                f"tokens_{key} tokens() µs CPU/token",
                [c * 1e6 for c in results[key]["tokens()"]],
                "µs",
            )
        )
    print_targets(targets)
    write_results(args.json, "bench_tokens", targets, figures)


if __name__ == "__main__":
    main()
