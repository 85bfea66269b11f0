"""A toy model container that speaks OpenAI Chat Completions, for the fake's OpenAI route.

``chat_model()`` returns a handler for ``FakeSageMakerRuntime.add_endpoint`` /
``add_inference_component``: it answers a Chat Completions request as vLLM does — a
``chat.completion`` object, or with ``"stream": true`` SSE ``chat.completion.chunk`` events ended
by ``data: [DONE]`` (``style="sse"``) or the same chunks as JSON lines with no end marker, as
DJL-LMI's ``jsonlines_chat`` formatter writes them (``style="jsonlines"``). With ``tools`` in
the request it calls the first tool instead of answering. Writes are cut at awkward places (mid
line, mid UTF-8 character) as real containers' are. A request that is not a chat request gets
vLLM's own 400 body, which the fake's front door then quotes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from ._fake import Invocation, ModelFailure, ModelResponse, ModelStream

__all__ = ["chat_model"]

_IDS = itertools.count(1)


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # content parts
                return " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict) and "text" in p
                )
    return ""


def _bad_request(message: str) -> ModelFailure:
    body = {
        "object": "error",
        "message": message,
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    return ModelFailure(400, json.dumps(body))


def chat_model(
    reply: str | Callable[[list[Any]], str] | None = None,
    *,
    style: str = "sse",
    delay: float = 0.0,
    model: str = "toy-chat",
) -> Callable[[Invocation], ModelResponse | ModelStream]:
    """A Chat Completions handler: ``reply`` is the answer (a str, or a function of the
    messages; default: echoes the last user message), streamed word by word, ``delay`` seconds
    apart; ``style`` is ``"sse"`` (vLLM, SGLang, TGI) or ``"jsonlines"`` (LMI)."""
    if style not in ("sse", "jsonlines"):
        raise ValueError("style must be 'sse' or 'jsonlines'")

    def answer(invocation: Invocation) -> ModelResponse | ModelStream:
        try:
            request = invocation.json()
        except ValueError:
            raise _bad_request("the request body is not JSON") from None
        messages = request.get("messages") if isinstance(request, dict) else None
        if not isinstance(messages, list) or not messages:
            raise _bad_request("messages: field required")
        if callable(reply):
            text = reply(messages)
        elif reply is not None:
            text = reply
        else:
            text = f"You said: {_last_user_text(messages)}"
        tools = request.get("tools")
        call = None
        if isinstance(tools, list) and tools and request.get("tool_choice") != "none":
            function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
            arguments = json.dumps({"query": _last_user_text(messages)})
            call = {
                "id": f"call_{next(_IDS)}",
                "type": "function",
                "function": {"name": function.get("name", "tool"), "arguments": arguments},
            }
        completion_id = f"chatcmpl-toy-{next(_IDS)}"
        name = request.get("model") or model
        usage = {
            "prompt_tokens": len(json.dumps(messages).split()),
            "completion_tokens": len(text.split()),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if request.get("stream") is not True:
            message: dict[str, Any] = {"role": "assistant", "content": None if call else text}
            if call:
                message["tool_calls"] = [call]
            document = {
                "id": completion_id,
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if call else "stop",
                    }
                ],
                "usage": usage,
            }
            return ModelResponse(json.dumps(document).encode(), content_type="application/json")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        if call:
            chunks.append(chunk({"tool_calls": [{"index": 0, **call}]}))
            chunks.append(chunk({}, "tool_calls"))
        else:
            words = text.split(" ")
            chunks.extend(chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words))
            chunks.append(chunk({}, "stop"))
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append({**chunk({}), "choices": [], "usage": usage})

        async def wire() -> AsyncIterator[bytes]:
            pending = b""
            for value in chunks:
                line = json.dumps(value, ensure_ascii=False).encode()
                pending += b"data: " + line + b"\n\n" if style == "sse" else line + b"\n"
                cut = max(1, len(pending) - 5)  # writes cut mid line
                if delay:
                    await anyio.sleep(delay)
                yield pending[:cut]
                pending = pending[cut:]
            if style == "sse":
                pending += b"data: [DONE]\n\n"
            yield pending

        content_type = "text/event-stream" if style == "sse" else "application/jsonlines"
        return ModelStream(wire(), content_type=content_type)

    return answer
