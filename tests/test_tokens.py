"""Container formats as real servers write them: errors, tool calls, reasoning, usage, formats.

Every fixture below is built the way the serving stack's own source writes it — the serializer
(serde_json / Gson compact, Python ``json.dumps`` with its ``", "`` separators, pydantic's
compact ``model_dump_json``), the SSE framing (axum writes ``data:`` with no space and a blank
line; vLLM and DJL write ``data: ``) and the field order — and the file is cited in a comment by
each. Each runs whole, byte by byte and cut in two at every offset (``assert_split_invariant``
of test_framing.py): the tokens, the assembled state and the error must not depend on the cuts.

The central invariant of this file: no container's error passes for the end of an answer, in
any framing (SSE, JSON lines, a raw JSON line after SSE events).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from test_framing import Outcome, assert_split_invariant, bytewise

from sagemaker_rt_async._errors import ContainerError, ParamValidationError, StreamError
from sagemaker_rt_async._tokens import (
    TOKEN_FORMATS,
    Token,
    TokenDecoder,
    TokenFormat,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from sagemaker_rt_async.testing import FakeSageMakerRuntime, ModelStream


def compact(value: Any) -> str:
    """serde_json (TGI), Gson (DJL's Java frontend), pydantic model_dump_json (vLLM)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def pyjson(value: Any) -> str:
    """Python's json.dumps(..., ensure_ascii=False), as djl_python writes its lines."""
    return json.dumps(value, ensure_ascii=False)


def axum(*values: Any) -> bytes:
    """TGI's SSE: axum's Event writes ``data:`` + value (no space), then a blank line."""
    return "".join(f"data:{v if isinstance(v, str) else compact(v)}\n\n" for v in values).encode()


def vllm_sse(*values: Any) -> bytes:
    """vLLM's OpenAI server: ``f"data: {chunk.model_dump_json(exclude_unset=True)}\\n\\n"``."""
    return "".join(f"data: {v if isinstance(v, str) else compact(v)}\n\n" for v in values).encode()


def named_sse(*events: tuple[str, Any]) -> bytes:
    """``event: <type>`` + ``data: <json>`` (Responses API and Anthropic Messages streams)."""
    return "".join(f"event: {name}\ndata: {compact(v)}\n\n" for name, v in events).encode()


def djl_lines(*values: Any) -> bytes:
    """djl_python's jsonlines formatters: ``json.dumps(d, ensure_ascii=False) + "\\n"``."""
    return "".join(pyjson(v) + "\n" for v in values).encode()


def T(text: str, id: int | None = None, logprob: float | None = None, **kw: Any) -> Token:
    kw.setdefault("logprobs", () if logprob is None else (logprob,))
    return Token(text, id, logprob, **kw)


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    tokens: tuple[Token, ...]
    format: TokenFormat = "auto"
    content_type: str | None = None
    resolved: str = ""
    # ContainerError: (message, error_code, status_code)
    error: tuple[str, str | None, int | None] | None = None
    text: str | None = None  # TokenDecoder.text at the end (default: the tokens' answer text)
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    choice: int = 0
    source: str = field(default="", compare=False)

    def factory(self) -> TokenDecoder:
        return TokenDecoder(
            self.format,
            content_type=self.content_type,
            choice=self.choice,
        )


@dataclass(frozen=True)
class State:
    """What the decoder adds up besides the tokens, at the end of a run."""

    format: str
    text: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    usage: Usage | None


def run_state(factory: Callable[[], TokenDecoder], chunks: Sequence[bytes]) -> State:
    decoder = factory()
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()
    except StreamError:
        pass
    return State(
        decoder.format,
        decoder.text,
        decoder.reasoning_text,
        decoder.tool_calls,
        decoder.finish_reason,
        decoder.usage,
    )


# ---------------------------------------------------------------------------------------------
# TGI (huggingface/text-generation-inference, router/src/lib.rs StreamResponse / StreamDetails /
# ErrorResponse, router/src/server.rs generate_stream; axum's sse.rs writes the events)


def tgi_event(index: int, token_id: int, text: str, logprob: float, **final: Any) -> dict[str, Any]:
    # StreamResponse: index, token {id, text, logprob, special}, (top_tokens skipped when
    # empty), generated_text (null until the last), details (null unless "details": true).
    event: dict[str, Any] = {
        "index": index,
        "token": {"id": token_id, "text": text, "logprob": logprob, "special": text == "</s>"},
        "generated_text": None,
        "details": None,
    }
    event.update(final)
    return event


TGI_NO_DETAILS = [  # the request did not ask for "details": true
    tgi_event(1, 415, " Paris", -0.25),
    tgi_event(2, 29892, ", ", -0.5),
    tgi_event(3, 2, "</s>", -0.125, generated_text=" Paris, "),
]
TGI_WITH_DETAILS = [
    *TGI_NO_DETAILS[:2],
    tgi_event(
        3,
        2,
        "</s>",
        -0.125,
        generated_text=" Paris, ",
        details={
            "finish_reason": "eos_token",
            "generated_tokens": 3,
            "seed": None,
            "input_length": 7,
        },
    ),
]
# server.rs, generate_stream's error arm: Event::default().json_data(ErrorResponse {error,
# error_type}); InferError::GenerationError's error_type is "generation".
TGI_ERROR = {
    "error": "Request failed during generation: Server error: CUDA OOM",
    "error_type": "generation",
}


# TGI's OpenAI routes (router/src/lib.rs Completion / Chunk / CompletionFinal / ChatCompletionChunk
# / DeltaToolCall, router/src/chat.rs create_event_from_stream_token and ChatState::push).
def tgi_completion_chunk(text: str, finish_reason: str = "", **final: Any) -> dict[str, Any]:
    # Completion is #[serde(tag = "object")]: "object" comes first. Every Chunk writes
    # finish_reason: String::new() — "" — and only the CompletionFinal has the real one.
    chunk = {
        "object": "text_completion",
        "id": "",
        "created": 1733000000,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "system_fingerprint": "3.0.1-sha-b70f29d",
    }
    chunk.update(final)
    return chunk


TGI_COMPLETIONS = axum(
    tgi_completion_chunk(" Hello"),
    tgi_completion_chunk(" world"),
    tgi_completion_chunk(
        "!",
        "length",
        usage={"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
    ),
    "[DONE]",
)


def tgi_chat(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "id": "",
        "created": 1733000000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "system_fingerprint": "3.0.1-sha-b70f29d",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def tgi_tool_delta(
    arguments: str, name: str | None = None, *, listed: bool = True
) -> dict[str, Any]:
    # TGI >= 3.2 (#3075, "Making tool_calls a vector"): a list of DeltaToolCall; before, one
    # object. id is the chat id ("" here), name only on the first fragment, which is "{".
    call = {
        "index": 0,
        "id": "",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {"role": "assistant", "tool_calls": [call] if listed else call}


def tgi_tool_stream(*, listed: bool) -> bytes:
    return axum(
        tgi_chat(tgi_tool_delta("{", "get_weather", listed=listed)),
        tgi_chat(tgi_tool_delta('"location"', listed=listed)),
        tgi_chat(tgi_tool_delta(': "Par', listed=listed)),
        tgi_chat(tgi_tool_delta('is"', listed=listed)),
        # the closing brace of the call is trimmed; the last event has the finish reason
        tgi_chat(tgi_tool_delta("}", listed=listed), "stop"),
        # stream_options.include_usage: a chunk with no choices (ChatState::push)
        {
            "object": "chat.completion.chunk",
            "id": "",
            "created": 1733000000,
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "system_fingerprint": "3.0.1-sha-b70f29d",
            "choices": [],
            "usage": {"prompt_tokens": 92, "completion_tokens": 5, "total_tokens": 97},
        },
        "[DONE]",
    )


def tgi_tool_tokens(*, listed: bool) -> tuple[Token, ...]:
    del listed  # both forms decode to the same deltas
    frags = [("{", "get_weather"), ('"location"', None), (': "Par', None), ('is"', None)]
    tokens = [T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, n, a),)) for a, n in frags]
    tokens.append(
        T(
            "",
            kind="tool_call",
            tool_calls=(ToolCallDelta(0, None, None, "}"),),
            finish_reason="stop",
            final=True,
        )
    )
    return tuple(tokens)


WEATHER = ToolCall(0, None, "get_weather", '{"location": "Paris"}', {"location": "Paris"})
# infer/mod.rs InferError::into_openai_event: {"error": {"message", "http_status_code": 422}}
TGI_OPENAI_ERROR = {
    "error": {"message": "Input validation error: max_tokens", "http_status_code": 422}
}


# ---------------------------------------------------------------------------------------------
# vLLM's OpenAI server (vllm/entrypoints/openai/serving_chat.py chat_completion_stream_generator,
# protocol.py ChatCompletionStreamResponse / DeltaMessage / DeltaToolCall / UsageInfo,
# serving_engine.py create_streaming_error_response)


def vllm_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-5f8",
        "object": "chat.completion.chunk",
        "created": 1733000000,
        "model": "Qwen/Qwen3-8B",
        "choices": choices,
        **extra,
    }


def vllm_choice(
    delta: dict[str, Any], finish: str | None = None, index: int = 0, **kw: Any
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **kw}


VLLM_TOOL_ID = "chatcmpl-tool-9b2e"
VLLM_REASONING_TOOLS = vllm_sse(
    vllm_chunk([vllm_choice({"role": "assistant", "content": ""})]),
    # --reasoning-parser: reasoning_content (vLLM < 0.10 and DJL's chat), "reasoning" after
    vllm_chunk([vllm_choice({"reasoning_content": "The user wants"})]),
    vllm_chunk([vllm_choice({"reasoning": " the weather."})]),
    vllm_chunk([vllm_choice({"content": "Let me check."})]),
    # --tool-call-parser: the first delta has id, type and name with "" arguments
    vllm_chunk(
        [
            vllm_choice(
                {
                    "tool_calls": [
                        {
                            "id": VLLM_TOOL_ID,
                            "type": "function",
                            "index": 0,
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                }
            )
        ]
    ),
    vllm_chunk(
        [vllm_choice({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]})]
    ),
    vllm_chunk(
        [vllm_choice({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})]
    ),
    vllm_chunk([vllm_choice({"content": ""}, "tool_calls", stop_reason=None)]),
    # stream_options.include_usage: choices [] and the usage
    vllm_chunk([], usage={"prompt_tokens": 120, "total_tokens": 151, "completion_tokens": 31}),
    "[DONE]",
)
VLLM_REASONING_TOOLS_TOKENS = (
    T("The user wants", kind="reasoning"),
    T(" the weather.", kind="reasoning"),
    T("Let me check."),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, VLLM_TOOL_ID, "get_weather", ""),)),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, None, '{"location": '),)),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, None, '"Paris"}'),)),
    T("", finish_reason="tool_calls", final=True),
)
# n=2: the choices interleave, each chunk holds one of them.
VLLM_N2 = vllm_sse(
    vllm_chunk([vllm_choice({"role": "assistant", "content": ""}, index=0)]),
    vllm_chunk([vllm_choice({"role": "assistant", "content": ""}, index=1)]),
    vllm_chunk([vllm_choice({"content": "Oui"}, index=0)]),
    vllm_chunk([vllm_choice({"content": "Yes"}, index=1)]),
    vllm_chunk([vllm_choice({"content": "."}, "stop", index=1)]),
    vllm_chunk([vllm_choice({"content": "!"}, "length", index=0)]),
    "[DONE]",
)
# Speculative decoding: one delta carries several tokens, logprobs.content one entry each.
VLLM_SPECULATIVE = vllm_sse(
    vllm_chunk(
        [
            {
                "index": 0,
                "delta": {"content": " la mer"},
                "logprobs": {
                    "content": [
                        {
                            "token": " la",
                            "logprob": -0.5,
                            "bytes": [32, 108, 97],
                            "top_logprobs": [],
                        },
                        {
                            "token": " mer",
                            "logprob": -0.25,
                            "bytes": [32, 109, 101, 114],
                            "top_logprobs": [],
                        },
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    vllm_chunk(
        [
            {
                "index": 0,
                "delta": {"content": "."},
                "logprobs": {
                    "content": [{"token": ".", "logprob": -1.0, "bytes": [46], "top_logprobs": []}]
                },
                "finish_reason": "stop",
            }
        ]
    ),
    "[DONE]",
)
# create_streaming_error_response: json.dumps(ErrorResponse(error=ErrorInfo(...)).model_dump())
# — Python separators, "code" is only the HTTP status.
VLLM_ERROR = {
    "error": {
        "message": "Internal server error",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }
}


# ---------------------------------------------------------------------------------------------
# DJL-LMI (deepjavalibrary/djl-serving, engines/python/setup/djl_python/output_formatter.py,
# request_io.py Token.as_dict / as_tgi_dict; engines/python/src/main/java/ai/djl/python/engine/
# Request.java addResponse; serving/src/main/java/ai/djl/serving/http/ErrorResponse.java)


def lmi_line(token_id: int, text: str, log_prob: float, **final: Any) -> dict[str, Any]:
    return {"token": {"id": token_id, "text": text, "log_prob": log_prob}, **final}


# _jsonlines_output_formatter without "details": the last line adds generated_text only.
LMI_NO_DETAILS = djl_lines(
    lmi_line(450, " Deep", -0.5),
    lmi_line(6509, " learning", -0.25, generated_text=" Deep learning"),
)
# with "details": true (get_details_dict): finish_reason, generated_tokens, inputs
LMI_DETAILS = djl_lines(
    lmi_line(450, " Deep", -0.5),
    lmi_line(
        6509,
        " learning",
        -0.25,
        generated_text=" Deep learning",
        details={"finish_reason": "length", "generated_tokens": 2, "inputs": "What is DL?"},
    ),
)
# OPTION_TGI_COMPAT=true: sse_response_formatter, "data: " + the line (as_tgi_dict spelling)
# + "\n" — so "data: {...}\n\n". On a failed request the frontend's Request.addResponse appends
# Gson's {"code":424,"error":"..."} straight after, with no "data:" and no newline.
DJL_TGI_COMPAT_OK = (
    b'data: {"token": {"id": 450, "text": " Deep", "logprob": -0.5}}\n\n'
    b'data: {"token": {"id": 6509, "text": " learning", "logprob": -0.25}}\n\n'
)
DJL_FRONTEND_ERROR: dict[str, Any] = {
    "code": 424,
    "error": "CUDA error: an illegal memory access was encountered",
}
DJL_TGI_COMPAT_FAILED = DJL_TGI_COMPAT_OK + compact(DJL_FRONTEND_ERROR).encode()
DJL_TOKENS = (T(" Deep", 450, -0.5), T(" learning", 6509, -0.25))
# ErrorResponse(code, type, message), serialized by Gson.
DJL_ENGINE_FAILURE = {
    "code": 500,
    "type": "InternalServerException",
    "message": "Python worker died",
}
# _jsonlines_3p_output_formatter (output_formatter="3p_stream", Bedrock-style): one line per
# token, prompt_token_count on the first only, stop_reason on the last.
DJL_3P = djl_lines(
    {
        "body": {
            "generation": " Deep",
            "prompt_token_count": 6,
            "generation_token_count": 1,
            "stop_reason": None,
        },
        "metering": {"outputTokenCount": 1, "inputTokenCount": 6},
        "content_type": "application/jsonlines",
    },
    {
        "body": {
            "generation": " learning",
            "prompt_token_count": None,
            "generation_token_count": 2,
            "stop_reason": "length",
        },
        "metering": {"outputTokenCount": 2},
        "content_type": "application/jsonlines",
    },
)
DJL_3P_ERROR_LINE = {
    "body": {
        "generation": "",
        "prompt_token_count": None,
        "generation_token_count": 2,
        "stop_reason": "error",
    },
    "metering": {"outputTokenCount": 2},
    "content_type": "application/jsonlines",
    "error": {"error_code": 400, "error_msg": "Input too long"},
}
DJL_3P_ERROR = djl_lines(
    {
        "body": {
            "generation": " Deep",
            "prompt_token_count": 6,
            "generation_token_count": 1,
            "stop_reason": None,
        },
        "metering": {"outputTokenCount": 1, "inputTokenCount": 6},
        "content_type": "application/jsonlines",
    },
    DJL_3P_ERROR_LINE,
)


# _jsonlines_chat_output_formatter (application/jsonlines) and _sse_chat_output_formatter
# ("data: " + that line + "\n", then "data: [DONE]\n\n" after the last): a chunk per token.
# With a named tool_choice every token is a tool-call delta with no id; logprobs (asked for)
# come wrapped in a list — the stray comma after its dict.
def djl_chat(
    delta: dict[str, Any], finish: str | None = None, logprob: float | None = None
) -> dict[str, Any]:
    logprobs = None
    if logprob is not None:
        logprobs = [
            {
                "content": [
                    {
                        "token": "t",
                        "logprob": logprob,
                        "bytes": [116],
                        "top_logprobs": [{"token": logprob, "logprob": logprob, "bytes": [116]}],
                    }
                ]
            }
        ]
    return {
        "id": "chatcmpl-140234",
        "object": "chat.completion.chunk",
        "created": 1733000000,
        "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
    }


DJL_CHAT_NAMED_TOOL = djl_lines(
    djl_chat(
        {
            "tool_calls": [
                {"index": 0, "function": {"name": "get_weather", "arguments": '{"location"'}}
            ],
            "role": "assistant",
        },
        logprob=-0.5,
    ),
    djl_chat(
        {
            "tool_calls": [
                {"index": 0, "function": {"name": "get_weather", "arguments": ': "Paris"}'}}
            ]
        },
        "stop",
        logprob=-0.25,
    ),
)
DJL_CHAT_SSE_FAILED = (
    b"data: "
    + djl_lines(djl_chat({"content": "Bonjour", "role": "assistant"}))
    + b"\n"
    + compact(DJL_FRONTEND_ERROR).encode()
)
DJL_CHAT_SSE = (
    b"data: "
    + djl_lines(djl_chat({"content": "Bonjour", "role": "assistant"}))
    + b"\n"
    + b"data: "
    + djl_lines(djl_chat({"content": "!"}, "length"))
    + b"\n"
    + b"data: [DONE]\n\n"
)


# ---------------------------------------------------------------------------------------------
# OpenAI Responses API events (openai-python src/openai/types/responses/: response_created_event,
# response_output_item_added_event, response_text_delta_event, response_reasoning_text_delta_event,
# response_function_call_arguments_delta_event, response_completed_event, response_error_event,
# response_failed_event; vLLM's serving_responses.py writes the same with "event: <type>")

RESP = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-oss-20b"}
RESPONSES = named_sse(
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": RESP}),
    (
        "response.reasoning_text.delta",
        {
            "type": "response.reasoning_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Simple greeting.",
            "sequence_number": 1,
        },
    ),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": "Bonjour",
            "logprobs": [{"token": "Bonjour", "logprob": -0.125}],
            "sequence_number": 2,
        },
    ),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": " 🌍",
            "logprobs": [],
            "sequence_number": 3,
        },
    ),
    (
        "response.output_item.added",
        {
            "type": "response.output_item.added",
            "output_index": 2,
            "sequence_number": 4,
            "item": {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_7",
                "name": "get_weather",
                "arguments": "",
                "status": "in_progress",
            },
        },
    ),
    (
        "response.function_call_arguments.delta",
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 2,
            "delta": '{"location":',
            "sequence_number": 5,
        },
    ),
    (
        "response.function_call_arguments.delta",
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 2,
            "delta": '"Paris"}',
            "sequence_number": 6,
        },
    ),
    (
        "response.completed",
        {
            "type": "response.completed",
            "sequence_number": 7,
            "response": {
                **RESP,
                "status": "completed",
                "usage": {"input_tokens": 11, "output_tokens": 9, "total_tokens": 20},
            },
        },
    ),
)
RESPONSES_TOKENS = (
    T("Simple greeting.", kind="reasoning"),
    T("Bonjour", logprob=-0.125),
    T(" 🌍"),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, "call_7", "get_weather", ""),)),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, None, '{"location":'),)),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, None, '"Paris"}'),)),
    T("", finish_reason="completed", final=True),
)
RESPONSES_ERROR_EVENT = {
    "type": "error",
    "code": "rate_limit_exceeded",
    "message": "Slow down",
    "param": None,
    "sequence_number": 2,
}
RESPONSES_ERROR = named_sse(
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": RESP}),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
            "sequence_number": 1,
        },
    ),
    ("error", RESPONSES_ERROR_EVENT),
)
RESPONSES_FAILED_EVENT = {
    "type": "response.failed",
    "sequence_number": 2,
    "response": {
        **RESP,
        "status": "failed",
        "error": {"code": "server_error", "message": "The model crashed"},
    },
}
RESPONSES_FAILED = named_sse(
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": RESP}),
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
            "sequence_number": 1,
        },
    ),
    ("response.failed", RESPONSES_FAILED_EVENT),
)
RESPONSES_INCOMPLETE = named_sse(
    (
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "item_id": "m",
            "output_index": 0,
            "content_index": 0,
            "delta": "Long",
            "sequence_number": 0,
        },
    ),
    (
        "response.incomplete",
        {
            "type": "response.incomplete",
            "sequence_number": 1,
            "response": {
                **RESP,
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
            },
        },
    ),
)


# ---------------------------------------------------------------------------------------------
# Anthropic Messages events (anthropic-sdk-python src/anthropic/types/raw_message_start_event.py,
# raw_content_block_start_event.py, raw_content_block_delta_event.py (text_delta, thinking_delta,
# input_json_delta, signature_delta), raw_message_delta_event.py, raw_message_stop_event.py;
# the "ping" and "error" events of its streaming docs, read by src/anthropic/_streaming.py)

ANTHROPIC = named_sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Weather question."},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQB"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Checking "},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Paris ☀"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"location": "Paris"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)
ANTHROPIC_TOKENS = (
    T("Weather question.", kind="reasoning"),
    T("Checking "),
    T("Paris ☀"),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, "toolu_01", "get_weather", ""),)),
    T("", kind="tool_call", tool_calls=(ToolCallDelta(0, None, None, '{"location": "Paris"}'),)),
    T("", finish_reason="tool_use", final=True),
)
ANTHROPIC_ERROR_EVENT = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
}
ANTHROPIC_ERROR = named_sse(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    ),
    ("error", ANTHROPIC_ERROR_EVENT),
)


CASES = [
    # --- TGI: details or not, the last token is final
    Case(
        "tgi-no-details",
        axum(*TGI_NO_DETAILS),
        (
            T(" Paris", 415, -0.25),
            T(", ", 29892, -0.5),
            T("</s>", 2, -0.125, special=True, final=True),
        ),
        resolved="tgi",
    ),
    Case(
        "tgi-details",
        axum(*TGI_WITH_DETAILS),
        (
            T(" Paris", 415, -0.25),
            T(", ", 29892, -0.5),
            T("</s>", 2, -0.125, special=True, finish_reason="eos_token", final=True),
        ),
        resolved="tgi",
        finish_reason="eos_token",
        usage=Usage(7, 3, 10),
    ),
    Case(
        "tgi-keepalive-then-error",
        b":\n\n" + axum(TGI_NO_DETAILS[0], TGI_ERROR),
        (T(" Paris", 415, -0.25),),
        resolved="tgi",
        error=(TGI_ERROR["error"], "generation", None),
    ),
    Case(
        "tgi-completions-empty-finish-reason",
        TGI_COMPLETIONS,
        (T(" Hello"), T(" world"), T("!", finish_reason="length", final=True)),
        resolved="openai",
        finish_reason="length",
        usage=Usage(4, 3, 7),
    ),
    Case(
        "tgi-chat-tool-call-list",
        tgi_tool_stream(listed=True),
        tgi_tool_tokens(listed=True),
        resolved="openai",
        tool_calls=(WEATHER,),
        finish_reason="stop",
        usage=Usage(92, 5, 97),
    ),
    Case(
        "tgi-chat-tool-call-single-object",
        tgi_tool_stream(listed=False),
        tgi_tool_tokens(listed=False),
        resolved="openai",
        tool_calls=(WEATHER,),
        finish_reason="stop",
        usage=Usage(92, 5, 97),
    ),
    Case(
        "tgi-chat-openai-error",
        axum(tgi_chat({"role": "assistant", "content": "Hi"}), TGI_OPENAI_ERROR),
        (T("Hi"),),
        resolved="openai",
        error=("Input validation error: max_tokens", None, 422),
    ),
    # --- vLLM
    Case(
        "vllm-reasoning-tools-usage",
        VLLM_REASONING_TOOLS,
        VLLM_REASONING_TOOLS_TOKENS,
        resolved="openai",
        reasoning="The user wants the weather.",
        tool_calls=(
            ToolCall(
                0, VLLM_TOOL_ID, "get_weather", '{"location": "Paris"}', {"location": "Paris"}
            ),
        ),
        finish_reason="tool_calls",
        usage=Usage(120, 31, 151),
    ),
    Case(
        "vllm-n2-choice-0",
        VLLM_N2,
        (T("Oui"), T("!", finish_reason="length", final=True)),
        resolved="openai",
        finish_reason="length",
    ),
    Case(
        "vllm-n2-choice-1",
        VLLM_N2,
        (T("Yes"), T(".", finish_reason="stop", final=True)),
        resolved="openai",
        finish_reason="stop",
        choice=1,
    ),
    Case(
        "vllm-speculative-logprobs",
        VLLM_SPECULATIVE,
        (
            T(" la mer", logprobs=(-0.5, -0.25)),
            T(".", logprob=-1.0, finish_reason="stop", final=True),
        ),
        resolved="openai",
        finish_reason="stop",
    ),
    Case(
        "vllm-error-mid-stream",
        vllm_sse(vllm_chunk([vllm_choice({"content": "Hi"})]))
        + f"data: {json.dumps(VLLM_ERROR)}\n\n".encode(),
        (T("Hi"),),
        resolved="openai",
        error=("Internal server error", "InternalServerError", 500),
    ),
    # --- DJL-LMI
    Case(
        "lmi-no-details",
        LMI_NO_DETAILS,
        (T(" Deep", 450, -0.5), T(" learning", 6509, -0.25, final=True)),
        content_type="application/jsonlines",
        resolved="lmi",
    ),
    Case(
        "lmi-details",
        LMI_DETAILS,
        (T(" Deep", 450, -0.5), T(" learning", 6509, -0.25, finish_reason="length", final=True)),
        content_type="application/jsonlines",
        resolved="lmi",
        finish_reason="length",
        usage=Usage(None, 2, None),
    ),
    Case(
        "djl-tgi-compat-ok",
        DJL_TGI_COMPAT_OK,
        DJL_TOKENS,
        content_type="text/event-stream",
        resolved="tgi",
    ),
    Case(
        "djl-tgi-compat-frontend-error-sse",
        DJL_TGI_COMPAT_FAILED,
        DJL_TOKENS,
        content_type="text/event-stream",
        resolved="tgi",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "djl-tgi-compat-frontend-error-sniffed",
        DJL_TGI_COMPAT_FAILED,
        DJL_TOKENS,
        resolved="tgi",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "djl-tgi-compat-frontend-error-explicit",
        DJL_TGI_COMPAT_FAILED,
        DJL_TOKENS,
        "tgi",
        resolved="tgi",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "djl-frontend-error-before-any-event",
        compact(DJL_FRONTEND_ERROR).encode(),
        (),
        content_type="text/event-stream",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "djl-jsonlines-frontend-error",
        djl_lines(lmi_line(450, " Deep", -0.5)) + compact(DJL_FRONTEND_ERROR).encode(),
        (T(" Deep", 450, -0.5),),
        content_type="application/jsonlines",
        resolved="lmi",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "djl-engine-failure-jsonlines",
        djl_lines(lmi_line(450, " Deep", -0.5)) + compact(DJL_ENGINE_FAILURE).encode() + b"\n",
        (T(" Deep", 450, -0.5),),
        content_type="application/jsonlines",
        resolved="lmi",
        error=("Python worker died", "InternalServerException", 500),
    ),
    Case(
        "djl-engine-failure-without-type",
        djl_lines(lmi_line(450, " Deep", -0.5)) + b'{"code":500,"message":"Python worker died"}',
        (T(" Deep", 450, -0.5),),
        resolved="lmi",
        error=("Python worker died", None, 500),
    ),
    Case(
        "djl-engine-failure-after-sse",
        DJL_TGI_COMPAT_OK + compact(DJL_ENGINE_FAILURE).encode(),
        DJL_TOKENS,
        resolved="tgi",
        error=("Python worker died", "InternalServerException", 500),
    ),
    Case(
        "djl-jsonlines-chat-named-tool",
        DJL_CHAT_NAMED_TOOL,
        (
            T(
                "",
                logprob=-0.5,
                kind="tool_call",
                tool_calls=(ToolCallDelta(0, None, "get_weather", '{"location"'),),
            ),
            T(
                "",
                logprob=-0.25,
                kind="tool_call",
                tool_calls=(ToolCallDelta(0, None, "get_weather", ': "Paris"}'),),
                finish_reason="stop",
                final=True,
            ),
        ),
        content_type="application/jsonlines",
        resolved="openai",
        tool_calls=(WEATHER,),
        finish_reason="stop",
    ),
    Case(
        "djl-sse-chat",
        DJL_CHAT_SSE,
        (T("Bonjour"), T("!", finish_reason="length", final=True)),
        content_type="text/event-stream",
        resolved="openai",
        finish_reason="length",
    ),
    Case(
        "djl-sse-chat-frontend-error",
        DJL_CHAT_SSE_FAILED,
        (T("Bonjour"),),
        content_type="text/event-stream",
        resolved="openai",
        error=(DJL_FRONTEND_ERROR["error"], None, 424),
    ),
    Case(
        "bedrock-3p",
        DJL_3P,
        (T(" Deep"), T(" learning", finish_reason="length", final=True)),
        content_type="application/jsonlines",
        resolved="bedrock",
        finish_reason="length",
        usage=Usage(6, 2, 8),
    ),
    Case(
        "bedrock-3p-explicit-sniffed",
        DJL_3P,
        (T(" Deep"), T(" learning", finish_reason="length", final=True)),
        "bedrock",
        resolved="bedrock",
        finish_reason="length",
        usage=Usage(6, 2, 8),
    ),
    Case(
        "bedrock-3p-error",
        DJL_3P_ERROR,
        (T(" Deep"),),
        resolved="bedrock",
        error=("Input too long", None, 400),
        usage=Usage(6, 1, 7),
    ),
    # --- Responses API
    Case(
        "responses",
        RESPONSES,
        RESPONSES_TOKENS,
        resolved="responses",
        reasoning="Simple greeting.",
        tool_calls=(
            ToolCall(0, "call_7", "get_weather", '{"location":"Paris"}', {"location": "Paris"}),
        ),
        finish_reason="completed",
        usage=Usage(11, 9, 20),
    ),
    Case(
        "responses-explicit",
        RESPONSES,
        RESPONSES_TOKENS,
        "responses",
        resolved="responses",
        reasoning="Simple greeting.",
        tool_calls=(
            ToolCall(0, "call_7", "get_weather", '{"location":"Paris"}', {"location": "Paris"}),
        ),
        finish_reason="completed",
        usage=Usage(11, 9, 20),
    ),
    Case(
        "responses-error-event",
        RESPONSES_ERROR,
        (T("Hi"),),
        resolved="responses",
        error=("Slow down", "rate_limit_exceeded", None),
    ),
    Case(
        "responses-failed",
        RESPONSES_FAILED,
        (T("Hi"),),
        resolved="responses",
        error=("The model crashed", "server_error", None),
    ),
    Case(
        "responses-incomplete",
        RESPONSES_INCOMPLETE,
        (T("Long"), T("", finish_reason="max_output_tokens", final=True)),
        resolved="responses",
        finish_reason="max_output_tokens",
        usage=Usage(3, 1, 4),
    ),
    # --- Anthropic Messages
    Case(
        "anthropic",
        ANTHROPIC,
        ANTHROPIC_TOKENS,
        resolved="anthropic",
        reasoning="Weather question.",
        tool_calls=(
            ToolCall(0, "toolu_01", "get_weather", '{"location": "Paris"}', {"location": "Paris"}),
        ),
        finish_reason="tool_use",
        usage=Usage(25, 42, 67),
    ),
    Case(
        "anthropic-error",
        ANTHROPIC_ERROR,
        (T("Hel"),),
        resolved="anthropic",
        error=("Overloaded", "overloaded_error", None),
        usage=Usage(3, 1, 4),
    ),
]


def _expected_text(case: Case) -> str:
    if case.text is not None:
        return case.text
    return "".join(t.text for t in case.tokens if t.kind == "text" and not t.special)


def _expected_outcome(case: Case) -> Outcome:
    if case.error is None:
        return Outcome(case.tokens)
    message, code, status = case.error
    payload_error = (
        "ContainerError",
        f"{code}: {message}" if code else message,
        code,
        _expected_text(case),
    )
    return Outcome(case.tokens, (*payload_error, status))


def _key(outcome: Outcome) -> Outcome:
    """Test_framing's describe() plus status; the payload is checked separately."""
    if outcome.error is None:
        return outcome
    kind, text, code, partial, _payload, status = outcome.error
    return Outcome(outcome.items, (kind, text, code, partial, status))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_real_server_stream_every_split(case: Case) -> None:
    """Whole, byte by byte and at every cut: the same tokens, state and error; an error shape
    always raises ContainerError after exactly the tokens before it."""
    outcome = assert_split_invariant(case.factory, case.data, _key)
    assert outcome == _expected_outcome(case)
    state = run_state(case.factory, [case.data])
    assert state == State(
        case.resolved or "auto",
        _expected_text(case),
        case.reasoning,
        case.tool_calls,
        case.finish_reason,
        case.usage,
    )
    for chunks in (
        bytewise(case.data),
        [case.data[: len(case.data) // 2], case.data[len(case.data) // 2 :]],
    ):
        assert run_state(case.factory, chunks) == state


def test_every_format_has_a_real_server_fixture() -> None:
    """Each named format is exercised by at least one fixture of this file or test_framing."""
    covered = {c.resolved for c in CASES} | {"lmi-sse", "outputs", "text"}
    assert set(TOKEN_FORMATS) - {"auto"} <= covered


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        # (the JSON value, (message, error_code, status_code))
        (TGI_ERROR, (TGI_ERROR["error"], "generation", None)),
        (VLLM_ERROR, ("Internal server error", "InternalServerError", 500)),
        (
            {
                "object": "error",
                "message": "too long",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            ("too long", "BadRequestError", 400),
        ),
        (
            {
                "error": {
                    "message": "m",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
            ("m", "context_length_exceeded", None),
        ),
        (RESPONSES_ERROR_EVENT, ("Slow down", "rate_limit_exceeded", None)),
        (RESPONSES_FAILED_EVENT, ("The model crashed", "server_error", None)),
        (ANTHROPIC_ERROR_EVENT, ("Overloaded", "overloaded_error", None)),
        (TGI_OPENAI_ERROR, ("Input validation error: max_tokens", None, 422)),
        (DJL_FRONTEND_ERROR, (DJL_FRONTEND_ERROR["error"], None, 424)),
        ({"error": "boom", "code": 424}, ("boom", None, 424)),  # Gson's other key order
        (
            {
                "code": 424,
                "message": "invoke handler failure",
                "error": "OOM",
            },  # djl_python Output.error
            ("OOM", None, 424),
        ),
        (DJL_ENGINE_FAILURE, ("Python worker died", "InternalServerException", 500)),
        (DJL_3P_ERROR_LINE, ("Input too long", None, 400)),
    ],
)
def test_error_shapes(value: dict[str, Any], shape: tuple[str, str | None, int | None]) -> None:
    """Every error shape raises ContainerError with its message, own name and HTTP status, in
    JSON lines and in SSE, whatever the requested JSON format."""
    formats: tuple[TokenFormat, ...] = (
        "auto",
        "tgi",
        "openai",
        "lmi",
        "responses",
        "anthropic",
        "bedrock",
    )
    for fmt in formats:
        for data in (
            compact(value).encode() + b"\n",
            b"data: " + compact(value).encode() + b"\n\n",
        ):
            decoder = TokenDecoder(fmt)
            with pytest.raises(ContainerError) as caught:
                decoder.feed(data)
                decoder.close()
            error = caught.value
            assert (error.message, error.error_code, error.status_code) == shape, (fmt, data)
            assert error.payload == value


def test_a_bare_json_line_in_sse_that_is_no_error_is_ignored() -> None:
    """Only an error shape is taken from a raw ``{`` line in SSE: other JSON stays ignored."""
    data = DJL_TGI_COMPAT_OK + b'{"status": "done"}\n'
    decoder = TokenDecoder(content_type="text/event-stream")
    assert tuple(decoder.feed(data) + decoder.close()) == DJL_TOKENS


def test_choice_is_validated() -> None:
    """choice= must be a non-negative int, refused before any byte is read."""
    for bad in (-1, True, 1.0, "1"):
        with pytest.raises(ParamValidationError) as caught:
            TokenDecoder(choice=bad)  # type: ignore[arg-type]
        assert caught.value.param == "choice"


def test_tool_call_arguments_that_are_not_json_are_kept_unparsed() -> None:
    """A model that stops inside its arguments: the text is kept, parsed_arguments is None."""
    data = vllm_sse(
        vllm_chunk(
            [
                vllm_choice(
                    {
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "index": 0,
                                "function": {"name": "f", "arguments": '{"a": '},
                            }
                        ]
                    }
                )
            ]
        ),
        vllm_chunk([vllm_choice({"content": ""}, "length")]),
        "[DONE]",
    )
    decoder = TokenDecoder()
    decoder.feed(data)
    decoder.close()
    assert decoder.tool_calls == (ToolCall(0, "c1", "f", '{"a": ', None),)
    assert decoder.finish_reason == "length"


def test_close_cannot_defer_so_undelivered_tokens_add_nothing() -> None:
    """When close() finds tokens then an error, they are not delivered: no text, no tool call."""
    data = (
        vllm_sse(vllm_chunk([vllm_choice({"content": "Hi"})])).rstrip(b"\n")
        + b"\n"
        + compact(DJL_FRONTEND_ERROR).encode()
    )
    decoder = TokenDecoder("openai")
    assert decoder.feed(data) == []  # the event's blank line has not come
    with pytest.raises(ContainerError) as caught:
        decoder.close()
    assert caught.value.partial_text == decoder.text == ""


# ---------------------------------------------------------------------------------------------
# End to end: the same bytes through a served fake, the client and stream.tokens()


@pytest.mark.anyio
async def test_a_djl_frontend_error_after_sse_raises_through_tokens() -> None:
    """DJL's bare {"code": 424, "error"} after the last SSE event, cut into 7-byte parts and
    served on 127.0.0.1: tokens() raises ContainerError after the tokens, with the status, the
    text delivered and the stream's counts; the response is closed."""
    fake = FakeSageMakerRuntime()
    parts = [DJL_TGI_COMPAT_FAILED[i : i + 7] for i in range(0, len(DJL_TGI_COMPAT_FAILED), 7)]
    fake.add_endpoint("djl", lambda inv: ModelStream(parts, content_type="text/event-stream"))
    seen: list[Token] = []
    with fake.serve() as server, pytest.raises(ContainerError) as caught:
        async with fake.client(endpoint_url=server.url) as rt:
            stream = rt.invoke_endpoint_with_response_stream("djl", b"{}")
            async with stream:
                tokens = stream.tokens()
                async for token in tokens:
                    seen.append(token)
    assert tuple(seen) == DJL_TOKENS
    error = caught.value
    assert (error.status_code, error.partial_text) == (424, " Deep learning")
    assert error.parts_received == len(parts)
    assert error.request_id == stream.request_id
    assert stream.closed
    assert tokens.text == " Deep learning" and tokens.finish_reason is None


@pytest.mark.anyio
async def test_tool_calls_reasoning_and_usage_through_tokens() -> None:
    """vLLM's reasoning, tool-call and usage chunks, served in 5-byte parts: the iterator adds
    them up exactly as the sans-IO decoder does, with choice= passed through."""
    fake = FakeSageMakerRuntime()
    data = VLLM_REASONING_TOOLS
    fake.add_endpoint(
        "vllm",
        lambda inv: ModelStream(
            [data[i : i + 5] for i in range(0, len(data), 5)], content_type="text/event-stream"
        ),
    )
    async with fake.client() as rt:
        async with rt.invoke_endpoint_with_response_stream("vllm", b"{}") as stream:
            tokens = stream.tokens("openai", choice=0)
            seen = tuple([t async for t in tokens])
        with pytest.raises(ParamValidationError):
            stream.tokens(choice=-1)
    assert seen == VLLM_REASONING_TOOLS_TOKENS
    assert tokens.reasoning_text == "The user wants the weather."
    assert tokens.text == "Let me check."
    assert tokens.tool_calls[0].parsed_arguments == {"location": "Paris"}
    assert (tokens.finish_reason, tokens.usage) == ("tool_calls", Usage(120, 31, 151))


def test_tokens_built_on_the_hot_path_are_ordinary_tokens() -> None:
    """_token (the decoders' fast constructor) makes exactly what Token(...) makes: same type,
    equal, same hash and repr, and just as frozen."""
    import dataclasses

    from sagemaker_rt_async._tokens import _token

    calls = (ToolCallDelta(1),)
    fast = _token(" é", 7, -0.5, True, "stop", {"raw": 1}, "reasoning", calls, (-0.5,), True)
    slow = Token(" é", 7, -0.5, True, "stop", {"raw": 1}, "reasoning", calls, (-0.5,), True)
    assert type(fast) is Token
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.text = "x"  # type: ignore[misc]
