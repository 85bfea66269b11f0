"""The ``sagemaker-rt`` command: call SageMaker endpoints from a shell, or run a local fake one.

``invoke`` (InvokeEndpoint), ``stream`` (InvokeEndpointWithResponseStream, tokens printed as they
arrive), ``async`` (InvokeEndpointAsync, optionally awaiting the result in S3), ``chat`` (the
OpenAI-compatible route, streamed live), ``token`` (a bearer token for that route) and
``serve-fake`` (the test kit's fake SageMaker Runtime with the demo's toy models, on loopback).
This module only parses arguments, reads the body, prints and maps the library's typed errors to
one line on stderr and an exit code (``EXIT_*``); everything else is the library. The library
never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import codecs
import contextlib
import hashlib
import ipaddress
import json
import os
import shlex
import sys
import time
from array import array
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream

from . import (
    AccessDeniedError,
    AsyncInferenceFailure,
    AsyncInferenceJob,
    AsyncInferenceResult,
    AsyncInferenceTimeout,
    AuthenticationError,
    ClientClosedError,
    ContainerError,
    CredentialsError,
    FramingError,
    InvokeEndpointResult,
    ModelError,
    ModelNotReadyException,
    NoCapacityError,
    ParamValidationError,
    RequestTimeout,
    S3Error,
    SageMakerRuntimeClient,
    SageMakerRuntimeError,
    ServiceError,
    StreamError,
    ThrottlingError,
    TransportError,
    ValidationError,
    __version__,
)
from ._batch import _first_leaf, map_invoke_iter
from ._endpoints import parse_s3_uri
from ._operations import INVOKE_ENDPOINT_ASYNC
from ._tokens import TOKEN_FORMATS
from .demo import flaky_llm, sentiment_model, toy_llm, toy_summarizer
from .testing import TEST_CREDENTIALS, FakeSageMakerRuntime, Invocation, ModelFailure, chat_model

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio depends on
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "EXIT_ASYNC_TIMEOUT",
    "EXIT_CREDENTIALS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OTHER",
    "EXIT_SERVICE_CLIENT",
    "EXIT_SERVICE_SERVER",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "build_parser",
    "demo_fake",
    "exit_code_for",
    "main",
    "read_body",
]

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 3
EXIT_SERVICE_CLIENT = 4
EXIT_SERVICE_SERVER = 5
EXIT_TRANSPORT = 6
EXIT_FAILED = 7
EXIT_ASYNC_TIMEOUT = 8
EXIT_INTERRUPTED = 130

PROG = "sagemaker-rt"
_FAKE_REGION = "us-east-1"
_FAKE_ASYNC_OUTPUT = "s3://demo-results/summaries"
_FAKE_ASYNC_FAILURE = "s3://demo-results/failures"

_EXIT_CODES = """\
exit codes:
  0    success
  1    anything else (e.g. serve-fake could not listen on its port)
  2    usage: a bad option, or an argument the client refused before sending
       (ParamValidationError names the flag)
  3    no usable AWS credentials (CredentialsError)
  4    the service refused the request: HTTP 4xx, including ModelError (424: the model
       container answered with an error), ValidationError (e.g. unknown endpoint), AccessDenied
  5    the service failed (5xx) or throttled, still after the retries (--retries)
  6    no response: the connection failed or a deadline passed (TransportError, RequestTimeout)
  7    the stream broke after it started (StreamError), or the async job failed
       (AsyncInferenceFailure)
  8    the async job's result did not appear within --wait-timeout (AsyncInferenceTimeout);
       `batch --async --wait`: jobs still running at --wait-timeout
  130  interrupted (Ctrl-C)"""

_TRY_IT = """\
try it without AWS: run `sagemaker-rt serve-fake` in one shell, export the variables it
prints in another, then run the examples below."""

_EXAMPLES_HEADER = "examples (against `sagemaker-rt serve-fake`, the variables it prints exported):"

_MAIN_EPILOG = f"""\
{_TRY_IT}

  sagemaker-rt serve-fake
  export AWS_ENDPOINT_URL=http://127.0.0.1:8080 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=... ...
  sagemaker-rt invoke toy-sentiment '{{"inputs": "I love this library"}}' --json
  sagemaker-rt stream toy-llm '{{"inputs": "tell me a story"}}'
  sagemaker-rt async toy-summarizer '{{"document": "Async jobs write results to S3"}}' --wait
  sagemaker-rt chat toy-llm "tell me a story" --system "be brief"
  sagemaker-rt wait s3://demo-results/summaries/JOB.out    # await a job submitted earlier

Against AWS, credentials and region come from the usual places (AWS_PROFILE or --profile,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, instance roles; AWS_REGION or --region).
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL set the default
endpoint URLs, as in the AWS CLI. `sagemaker-rt COMMAND --help` shows each command's options.

{_EXIT_CODES}"""

_NEWLINE_RULE_SHORT = """text (UTF-8, a text or JSON content type)
ends with a newline, other bytes are written exactly; -o FILE writes the exact bytes to FILE."""

_NEWLINE_RULE = f"""\
The answer is printed so shells and pipes behave: {_NEWLINE_RULE_SHORT}"""

_INVOKE_EPILOG = f"""\
the body: BODY as given, @FILE for a file's bytes, - (or nothing, when piped) for stdin.

{_EXAMPLES_HEADER}
  sagemaker-rt invoke toy-sentiment '{{"inputs": "I love this library"}}'
  sagemaker-rt invoke toy-sentiment '{{"inputs": "fast and nice"}}' --json -v
  sagemaker-rt invoke toy-sentiment @request.json --accept application/json
  echo '{{"inputs": "slow and broken"}}' | sagemaker-rt invoke toy-sentiment
  sagemaker-rt invoke toy-sentiment '["not", "a", "dict"]'   # ModelError: exit 4
  sagemaker-rt invoke no-such-endpoint '{{}}'                 # ValidationError: exit 4
  sagemaker-rt invoke bad_name '{{}}'                         # refused before sending: exit 2

With -v the response members (ContentType, InvokedProductionVariant, CustomAttributes, ...)
and the request id go to stderr; stdout gets only the model's answer.
{_NEWLINE_RULE}
  sagemaker-rt invoke toy-sentiment '{{"inputs": "exact bytes"}}' -o answer.json
Exit codes: see `sagemaker-rt --help`."""

_STREAM_EPILOG = f"""\
Each token of the answer is printed the moment it arrives (reasoning and tool calls are not).
--format picks how the bytes are read: auto (detects TGI, OpenAI-compatible, DJL-LMI, the
Responses API, Anthropic Messages, Bedrock-style chunks or plain text), tgi, openai, lmi,
lmi-sse, responses, anthropic, bedrock, outputs, text; raw prints the PayloadPart bytes
unchanged.

{_EXAMPLES_HEADER}
  sagemaker-rt stream toy-llm '{{"inputs": "tell me a story", "stream": true}}'
  sagemaker-rt stream toy-llm '{{"inputs": "hi", "parameters": {{"max_new_tokens": 8}}}}' -v
  sagemaker-rt stream toy-llm '{{"inputs": "hi"}}' --format raw
  sagemaker-rt stream flaky-llm '{{}}'      # breaks after 3 parts (ModelStreamError): exit 7

With -v: parts, bytes, time to first token, total time and finish_reason on stderr.
Text ends with a newline; -o FILE writes the parts' exact bytes (any --format) to FILE instead.
Exit codes: see `sagemaker-rt --help`."""

_WAIT_EPILOG = f"""\
Awaits an async inference job submitted earlier (by `sagemaker-rt async`, by another program,
before a restart) from its output location; nothing is submitted. Prints the output as
`async --wait` does (-o FILE: its exact bytes to FILE); exit 7 if the failure object appears, 8
if --wait-timeout passes first.

{_EXAMPLES_HEADER}
  sagemaker-rt wait s3://demo-results/summaries/job-1.out \\
      --failure-location s3://demo-results/failures/job-1-error.out --json
Exit codes: see `sagemaker-rt --help`."""

_ASYNC_EPILOG = f"""\
Submits the request and prints the job as JSON (inference_id, output_location,
failure_location, request_id). With --wait it polls S3 until the output appears and prints it
(the job and the command that resumes the wait go to stderr first: if the wait times out or
is interrupted, `sagemaker-rt wait ...` picks it up again without submitting it twice).
The input: an inline BODY/@FILE/stdin (at most 128,000 bytes),
or a larger one uploaded first with --upload-to, or an object already in S3 (--input-location).

{_EXAMPLES_HEADER}
  sagemaker-rt async toy-summarizer '{{"document": "Async jobs write results to S3"}}'
  sagemaker-rt async toy-summarizer '{{"document": "one two three four five six"}}' --wait --json
  sagemaker-rt async toy-summarizer @document.json --upload-to s3://demo-inputs/staging/ --wait
  sagemaker-rt async toy-summarizer '{{"document": ""}}' --wait         # the job fails: exit 7
  sagemaker-rt async toy-summarizer '{{"document": "x"}}' --wait --wait-timeout 0.01   # exit 8

The result is printed as `invoke` prints an answer: {_NEWLINE_RULE_SHORT}
Exit codes: see `sagemaker-rt --help`."""

_CHAT_EPILOG = f"""\
Sends PROMPT (text, @FILE, or - for stdin) as one user message to the endpoint's
OpenAI-compatible route (/openai/v1/chat/completions, a bearer token minted from your AWS
credentials) and prints the answer as it streams. The container must speak OpenAI Chat
Completions (vLLM, SGLang, TGI Messages API, LMI); one that does not is reported as such.

{_EXAMPLES_HEADER}
  sagemaker-rt chat toy-llm "tell me a story"
  sagemaker-rt chat toy-llm @question.txt --system "answer in one line" --max-tokens 64 -v
  sagemaker-rt chat toy-chat "hi" --inference-component small --no-stream
  echo "what is SageMaker?" | sagemaker-rt chat toy-chat --inference-component small
  sagemaker-rt chat toy-sentiment "hi"      # not a chat container: ModelError, exit 4
  sagemaker-rt chat toy-chat "hi"           # no --inference-component: ValidationError, exit 4

The identity needs sagemaker:CallWithBearerToken and sagemaker:InvokeEndpoint.
Exit codes: see `sagemaker-rt --help`."""

_TOKEN_EPILOG = f"""\
Prints a sagemaker-api-key-... bearer token for the OpenAI-compatible route of the region's
endpoints, minted locally (no network call) from your AWS credentials, as the SageMaker Python
SDK mints it: give it to any OpenAI-compatible client as its API key, with the base URL
https://runtime.sagemaker.REGION.amazonaws.com/endpoints/ENDPOINT/openai/v1. It is a credential:
do not log or store it. It never outlives the credentials that signed it.

{_EXAMPLES_HEADER}
  sagemaker-rt token
  sagemaker-rt token --expires-in 900 -v
  OPENAI_API_KEY=$(sagemaker-rt token --expires-in 3600) some-openai-tool ...

Exit codes: see `sagemaker-rt --help`."""

_SERVE_EPILOG = """\
The fake accepts any well-formed SigV4 credentials, as moto and LocalStack do (your AWS
profile or environment works unchanged); with --verify-signatures it checks signatures against
its public test credentials (printed at start; they are not secrets); the chat route's bearer
tokens are checked the same way. It answers S3 requests for async inference at the same URL. A
model that does not stream answers a stream request in one part, as the service relays a
non-streaming container. Endpoints:
  toy-sentiment   InvokeEndpoint: {"inputs": "<text>"} -> label and score (variant-a)
  toy-llm         streams a story token by token (Hugging Face TGI format; `chat`: OpenAI)
  flaky-llm       a stream that breaks after 3 parts (ModelStreamError)
  toy-chat        hosts inference component `small`: Chat Completions as LMI JSON lines
  toy-summarizer  async inference: {"document": "<text>"} -> a summary written to S3

examples:
  sagemaker-rt serve-fake                    # http://127.0.0.1:8080 until Ctrl-C
  sagemaker-rt serve-fake --port 9000 --for 60
  sagemaker-rt serve-fake --host 0.0.0.0 --allow-remote   # reachable by other machines"""

# The snake_case parameter a ParamValidationError names -> the flag (or argument) to fix.
_FLAGS = {
    "endpoint_name": "ENDPOINT",
    "model_invocation_path": "--model-invocation-path",
    "model_query_string": "--model-query-string",
    "body": "BODY",
    "json": "BODY",
    "region": "--region",
    "profile": "--profile",
    "endpoint_url": "--endpoint-url",
    "s3_endpoint_url": "--s3-endpoint-url",
    "timeout": "--timeout",
    "max_attempts": "--retries",
    "content_type": "--content-type",
    "accept": "--accept",
    "custom_attributes": "--custom-attributes",
    "target_model": "--target-model",
    "target_variant": "--target-variant",
    "target_container_hostname": "--target-container-hostname",
    "inference_id": "--inference-id",
    "enable_explanations": "--enable-explanations",
    "inference_component_name": "--inference-component",
    "session_id": "--session-id",
    "prefix_aware_id": "--prefix-aware-id",
    "input_location": "--input-location",
    "request_ttl_seconds": "--request-ttl-seconds",
    "invocation_timeout_seconds": "--invocation-timeout-seconds",
    "s3_output_path_extension": "--s3-output-path-extension",
    "filename": "--filename",
    "upload_to": "--upload-to",
    "format": "--format",
    "poll_interval": "--poll-interval",
    "expires_in": "--expires-in",
}


class _Parser(argparse.ArgumentParser):
    """Options and positionals in any order: ``invoke EP --json BODY`` as well as ``EP BODY``.

    Plain argparse gives an optional positional (BODY) its empty value as soon as it sees
    ENDPOINT, so a BODY after an option would be "unrecognized". Each subcommand parses
    intermixed instead (the top-level parser cannot: it has subparsers).
    """

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:  # parse_known_intermixed_args calls back in here
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            parsed, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False
        if extras:  # the subcommand's own usage, not the top-level one
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


class _UsageError(Exception):
    """A problem with the command line the parser cannot see (an unreadable @FILE, no body)."""


# -- the parser ----------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where and how to connect")
    group.add_argument("--region", help="AWS region (default: AWS_REGION, then the profile's)")
    group.add_argument("--profile", help="shared-config profile for credentials and region")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="base URL of the service, e.g. http://127.0.0.1:8080 for `serve-fake` "
        "(default: AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, AWS_ENDPOINT_URL, else the region's)",
    )
    group.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="S3-compatible URL for async inference payloads "
        "(default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else the region's S3)",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="deadline for each phase: connecting, sending, waiting for the answer (on a "
        "stream: the gap between parts) (default: connect 10, read 70)",
    )
    group.add_argument(
        "--retries",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="attempts in all, as retry=N in the library: throttling, 5xx and connections "
        "that failed before sending are tried again up to N attempts (0 or 1 = no retries; "
        "default: AWS_MAX_ATTEMPTS / AWS_RETRY_MODE or the profile's, else 3)",
    )


def _add_request(parser: argparse.ArgumentParser, *, body_help: str) -> argparse._ArgumentGroup:
    parser.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    parser.add_argument(
        "--raw",
        action="store_true",
        help="send BODY as it is, even when it looks like JSON but does not parse",
    )
    parser.add_argument("body", metavar="BODY", nargs="?", help=body_help)
    group = parser.add_argument_group("request members (see the AWS API reference)")
    group.add_argument(
        "--content-type",
        metavar="MIME",
        help="the body's MIME type (default: application/json when the body parses as JSON)",
    )
    group.add_argument("--accept", metavar="MIME", help="the MIME type wanted back")
    group.add_argument(
        "--custom-attributes", metavar="TEXT", help="passed through to the model container"
    )
    group.add_argument("--inference-id", metavar="ID", help="your id for this inference")
    return group


def _add_realtime_members(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--target-variant", metavar="VARIANT", help="production variant to call")
    group.add_argument(
        "--target-container-hostname", metavar="HOST", help="container of a multi-container model"
    )
    group.add_argument(
        "--inference-component",
        metavar="NAME",
        help="inference component to call (InferenceComponentName)",
    )
    group.add_argument(
        "--session-id", metavar="ID", help="stateful session (invoke: NEW_SESSION opens one)"
    )
    group.add_argument("--prefix-aware-id", metavar="ID", help="prefix-aware routing id")


def _add_output(
    parser: argparse.ArgumentParser, *, json_flag: bool, output_flag: bool = False
) -> None:
    group = parser.add_argument_group("output")
    if json_flag:
        group.add_argument(
            "--json", action="store_true", help="pretty-print a JSON response (else its bytes)"
        )
    if output_flag:
        group.add_argument(
            "-o",
            "--output",
            type=Path,
            metavar="FILE",
            help="write the model's exact response bytes to FILE, nothing to stdout",
        )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="response members and timings on stderr"
    )


def _add_polling(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="first interval between S3 checks; it grows by half each time (default: 1)",
    )
    group.add_argument(
        "--wait-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="give up waiting after this long; the job may still finish (default: the job's "
        "queue TTL plus its invocation timeout)",
    )


def _subparser(
    sub: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``sagemaker-rt`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Call Amazon SageMaker endpoints from the shell: real-time, streaming and\n"
        "async inference, with typed errors and meaningful exit codes.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    body_help = "the request body: literal text, @FILE, or - for stdin (default: stdin if piped)"

    invoke = _subparser(
        sub,
        "invoke",
        help="call an endpoint and print its answer (InvokeEndpoint)",
        description="Send BODY to the endpoint and print the model's answer to stdout.",
        epilog=_INVOKE_EPILOG,
    )
    members = _add_request(invoke, body_help=body_help)
    _add_realtime_members(members)
    members.add_argument(
        "--target-model", metavar="PATH", help="model of a multi-model endpoint (TargetModel)"
    )
    members.add_argument(
        "--enable-explanations", metavar="EXPR", help="SageMaker Clarify explanations filter"
    )
    _add_output(invoke, json_flag=True, output_flag=True)
    _add_connection(invoke)

    stream = _subparser(
        sub,
        "stream",
        help="stream an LLM's tokens as they arrive (InvokeEndpointWithResponseStream)",
        description="Send BODY and print the response stream as it arrives: tokens as text,\n"
        "or the raw bytes of each part.",
        epilog=_STREAM_EPILOG,
    )
    _add_realtime_members(_add_request(stream, body_help=body_help))
    stream.add_argument(
        "--format",
        choices=("raw", *TOKEN_FORMATS),
        default="auto",
        help="how to read the stream (default: auto)",
    )
    _add_output(stream, json_flag=False, output_flag=True)
    _add_connection(stream)

    async_ = _subparser(
        sub,
        "async",
        help="queue an async inference job, optionally await its result (InvokeEndpointAsync)",
        description="Submit an async inference request and print the job; with --wait, await\n"
        "and print the result from S3.",
        epilog=_ASYNC_EPILOG,
    )
    members = _add_request(async_, body_help=body_help + "; omit it with --input-location")
    members.add_argument(
        "--input-location", metavar="URI", help="s3:// or https:// URI of the input (no BODY)"
    )
    members.add_argument(
        "--upload-to",
        metavar="S3_PREFIX",
        help="upload a body larger than 128,000 bytes to s3://bucket/prefix/ first",
    )
    members.add_argument(
        "--request-ttl-seconds", type=int, metavar="N", help="how long it may queue (60-21600)"
    )
    members.add_argument(
        "--invocation-timeout-seconds", type=int, metavar="N", help="how long it may run (1-3600)"
    )
    members.add_argument(
        "--s3-output-path-extension", metavar="PATH", help="appended to the output path"
    )
    members.add_argument("--filename", metavar="NAME", help="the output object's file name")
    wait = async_.add_argument_group("waiting for the result")
    wait.add_argument("--wait", action="store_true", help="await the result and print it")
    _add_polling(wait)
    _add_output(async_, json_flag=True, output_flag=True)
    _add_connection(async_)

    chat = _subparser(
        sub,
        "chat",
        help="chat with an LLM through its OpenAI-compatible route, streamed live",
        description="Send PROMPT as a Chat Completions request and print the answer as it\n"
        "arrives.",
        epilog=_CHAT_EPILOG,
    )
    chat.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    chat.add_argument(
        "body",
        metavar="PROMPT",
        nargs="?",
        help="the user message: text, @FILE, or - for stdin (default: stdin if piped)",
    )
    request = chat.add_argument_group("the request")
    request.add_argument(
        "--inference-component", metavar="NAME", help="inference component to call (in the path)"
    )
    request.add_argument("--system", metavar="TEXT", help="a system message first")
    request.add_argument(
        "--model", default="", help='the "model" field (default: empty, as vLLM wants it)'
    )
    request.add_argument("--max-tokens", type=_non_negative_int, metavar="N", help="max_tokens")
    request.add_argument("--temperature", type=float, metavar="T", help="temperature")
    request.add_argument(
        "--no-stream", action="store_true", help="ask for the whole answer at once"
    )
    _add_output(chat, json_flag=False)
    _add_connection(chat)

    token = _subparser(
        sub,
        "token",
        help="print a bearer token for the OpenAI-compatible route",
        description="Mint a sagemaker-api-key-... bearer token from your AWS credentials and\n"
        "print it.",
        epilog=_TOKEN_EPILOG,
    )
    token.add_argument(
        "--expires-in",
        type=int,
        default=43_200,
        metavar="SECONDS",
        help="lifetime in whole seconds, 1 to 43200 (default: 43200, 12 hours)",
    )
    _add_output(token, json_flag=False)
    _add_connection(token)
    _add_batch_parser(sub)
    bidi = _subparser(
        sub,
        "bidi",
        help="a live session with a model: stdin lines in, answers out as they arrive "
        "(InvokeEndpointWithBidirectionalStream)",
        description="Open a bidirectional session: each stdin line is sent as a UTF8 part (or\n"
        "--binary FILE streamed in --chunk-size parts) while the model's answers are printed\n"
        "as they arrive (UTF8 parts one per line, BINARY parts as raw bytes).",
        epilog=f"examples (against `{PROG} serve-fake --bidi-port 8443`):\n"
        f"  printf 'hello\\nworld\\n' | {PROG} bidi echo --endpoint-url http://127.0.0.1:8443\n"
        f"  {PROG} bidi transcriber --binary speech.wav --chunk-size 640 "
        "--endpoint-url http://127.0.0.1:8443",
    )
    bidi.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    bidi_members = bidi.add_argument_group("request members (see the AWS API reference)")
    bidi_members.add_argument(
        "--target-variant", metavar="VARIANT", help="production variant to call"
    )
    bidi_members.add_argument(
        "--model-invocation-path", metavar="PATH", help="the container's path, e.g. v1/listen"
    )
    bidi_members.add_argument(
        "--model-query-string", metavar="QUERY", help="the container's query, e.g. model=nova-3"
    )
    bidi.add_argument("--binary", metavar="FILE", help="stream this file as BINARY parts")
    bidi.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=32_000,
        metavar="N",
        help="bytes per part with --binary (default: %(default)s)",
    )
    bidi.add_argument("-v", "--verbose", action="store_true", help="print the session's counters")
    _add_connection(bidi)
    resume = _subparser(
        sub,
        "wait",
        help="await an async inference job submitted earlier, from its output location",
        description="Poll S3 for the output of an async inference job submitted earlier and\n"
        "print it. Nothing is submitted.",
        epilog=_WAIT_EPILOG,
    )
    resume.add_argument(
        "output_location", metavar="OUTPUT_LOCATION", help="the job's s3:// output location"
    )
    job = resume.add_argument_group("the job")
    job.add_argument(
        "--failure-location", metavar="URI", help="the job's s3:// failure location, if any"
    )
    job.add_argument("--inference-id", metavar="ID", help="the job's InferenceId (for messages)")
    _add_polling(resume.add_argument_group("waiting for the result"))
    _add_output(resume, json_flag=True, output_flag=True)
    _add_connection(resume)

    serve = _subparser(
        sub,
        "serve-fake",
        help="run a local fake SageMaker Runtime with toy models (no AWS needed)",
        description="Serve the test kit's fake SageMaker Runtime with the demo's toy models on\n"
        "loopback, for trying the other commands and for local development.",
        epilog=_SERVE_EPILOG,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_non_negative_int,
        default=8080,
        help="port (default: %(default)s; 0 = any free)",
    )
    serve.add_argument(
        "--for",
        dest="duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this long (default: run until Ctrl-C)",
    )
    serve.add_argument(
        "--bidi-port",
        type=_non_negative_int,
        metavar="PORT",
        help="also serve the bidirectional-stream fake (HTTP/2 cleartext) on PORT (0 = any "
        "free): endpoints echo, transcriber, fragmented, stream-error, model-error, ...",
    )
    serve.add_argument(
        "--verify-signatures",
        action="store_true",
        help="accept only the printed test credentials (default: any well-formed SigV4 "
        "credentials, as moto and LocalStack do, so your own AWS setup works unchanged)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone who can reach it can call the fake)",
    )
    return parser


# -- the body ------------------------------------------------------------------------------------


def _stdin_bytes() -> bytes:
    stdin = sys.stdin
    if stdin is None:
        raise _UsageError("no stdin to read the body from: pass BODY or @FILE")
    try:
        source = getattr(stdin, "buffer", None)
        return source.read() if source is not None else stdin.read().encode("utf-8")
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot read the body from stdin: {exc}") from None


def read_body(spec: str | None) -> bytes | None:
    """The request body a BODY argument names: the literal, ``@FILE``'s bytes, or stdin.

    ``-`` reads stdin; no argument reads stdin when it is not a terminal, and returns None when
    it is one or stdin is empty (nothing was given). A literal is sent as UTF-8 (undecodable
    argv bytes unchanged).
    """
    if spec is None:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        # An empty stdin (a script's /dev/null) is a forgotten BODY, not an empty request;
        # an empty body can still be sent explicitly, as '' or -.
        return _stdin_bytes() or None
    if spec == "-":
        return _stdin_bytes()
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        if not spec[1:]:
            raise _UsageError("'@' needs a file name: @request.json")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _UsageError(f"cannot read {spec}: {exc.strerror or exc}") from None
    return spec.encode("utf-8", "surrogateescape")


def _looks_like_json(data: bytes) -> bool:
    stripped = data.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _refuse_broken_json(args: argparse.Namespace, body: bytes | None) -> None:
    """A body that starts like JSON but does not parse is a typo, not a payload: say where it
    breaks, before anything is sent (``--raw`` sends it as it is)."""
    if body is None or getattr(args, "raw", True):
        return
    given: str | None = args.content_type
    if given is not None and "json" not in given.lower():
        return
    if body.lstrip()[:1] not in (b"{", b"["):
        return
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        raise _UsageError(
            f"BODY looks like JSON but does not parse: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno} (character {exc.pos}); fix it, or pass --raw to send it as it is"
        ) from None
    except (ValueError, RecursionError):
        raise _UsageError(
            "BODY looks like JSON but does not parse; fix it, or pass --raw to send it as it is"
        ) from None


def _content_type(args: argparse.Namespace, body: bytes | None) -> str | None:
    given: str | None = args.content_type
    if given is None and body is not None and _looks_like_json(body):
        return "application/json"
    return given


# -- output ----------------------------------------------------------------------------------------


class _Stdout:
    """Writes bytes to stdout as they come, flushed, remembering whether it ended a line and
    whether the last thing written was text (``text``) or raw bytes (``write``)."""

    def __init__(self) -> None:
        self.wrote = False
        self.at_line_start = True
        self.last_was_text = False

    def write(self, data: bytes, *, text: bool = False) -> None:
        if not data:
            return
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is None:  # a text-only replacement (tests, notebooks)
            out.write(data.decode("utf-8", "replace"))
        else:
            out.flush()  # anything written as text first stays first
            buffer.write(data)
            buffer.flush()
        out.flush()
        self.wrote = True
        self.at_line_start = data.endswith(b"\n")
        self.last_was_text = text

    def text(self, text: str) -> None:
        self.write(text.encode("utf-8", "surrogateescape"), text=True)

    def end_line(self) -> None:
        """End text output with a newline (callers never call it after bytes that are not
        text: those are written exactly)."""
        if self.wrote and not self.at_line_start:
            self.write(b"\n", text=True)

    def isatty(self) -> bool:
        try:
            return sys.stdout.isatty()
        except (AttributeError, ValueError):
            return False


def _info(*lines: str) -> None:
    sys.stdout.flush()
    for line in lines:
        print(line, file=sys.stderr)
    sys.stderr.flush()


# Content types whose bodies are text, when they are also valid UTF-8: text/*, and the
# structured-text families by their subtype (application/json, application/jsonlines,
# application/x-ndjson, application/xml, text/csv, ...). Anything else is bytes.
_TEXT_SUBTYPE_WORDS = ("json", "xml", "csv", "yaml", "text", "javascript", "x-www-form-urlencoded")


def _is_text_type(content_type: str | None) -> bool:
    """A missing content type or a text one: the bytes decide (``_is_text``)."""
    if content_type is None:
        return True
    mime = content_type.partition(";")[0].strip().lower()
    major, _, subtype = mime.partition("/")
    return major == "text" or any(word in subtype for word in _TEXT_SUBTYPE_WORDS)


def _is_text(body: bytes, content_type: str | None) -> bool:
    """Text ends with a newline on stdout; anything else is written exactly as it came."""
    if not _is_text_type(content_type):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _TextCheck:
    """``_is_text`` for a body that arrives in parts (a response stream)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True

    def feed(self, part: bytes) -> None:
        if self._utf8:
            try:
                self._decoder.decode(part)
            except UnicodeDecodeError:
                self._utf8 = False

    def is_text(self, content_type: str | None) -> bool:
        if not self._utf8 or not _is_text_type(content_type):
            return False
        try:
            self._decoder.decode(b"", final=True)  # a character cut off at the end
        except UnicodeDecodeError:
            return False
        return True


def _print_response_body(
    out: _Stdout, body: bytes, *, pretty: bool, content_type: str | None
) -> None:
    """A model's answer on stdout: pretty JSON, or the bytes; text ends with a newline (in a
    pipe too: ``$(...)``, ``| jq``, ``| wc -l`` and prompts behave), other bytes are exact."""
    if pretty:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            _info("note: the response is not JSON; printed as is")
        else:
            out.text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
            return
    out.write(body)
    if _is_text(body, content_type):
        out.end_line()


def _check_output_file(args: argparse.Namespace) -> Path | None:
    """``-o FILE``, checked before anything is sent: its directory exists and is writable."""
    path: Path | None = getattr(args, "output", None)
    if path is None:
        return None
    if getattr(args, "json", False):
        raise _UsageError("--output writes the exact bytes: it does not go with --json")
    if args.command == "async" and not args.wait:
        raise _UsageError("--output writes the job's result: it needs --wait")
    directory = path.expanduser().parent
    if path.expanduser().is_dir():
        raise _UsageError(f"--output {path}: is a directory")
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise _UsageError(f"--output {path}: cannot write in {directory}")
    args.output = path.expanduser()
    return args.output  # type: ignore[no-any-return]


def _write_exactly(path: Path, data: bytes) -> None:
    """The whole body in FILE, or FILE untouched: written beside it, then renamed over it."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise _UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None


async def _save_body(path: Path, data: bytes, args: argparse.Namespace) -> None:
    await anyio.to_thread.run_sync(_write_exactly, path, data)
    if args.verbose:
        _info(f"Written: {len(data)} bytes to {path}")


def _members(pairs: Sequence[tuple[str, object]]) -> list[str]:
    return [f"{name}: {value}" for name, value in pairs if value is not None]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- the commands --------------------------------------------------------------------------------


def _endpoint_url(args: argparse.Namespace) -> str | None:
    """The custom endpoint URL the client resolved (argument, environment or config file)."""
    resolved: str | None = getattr(args, "custom_endpoint", None)
    given: str | None = args.endpoint_url
    return given or resolved


def _client(args: argparse.Namespace) -> SageMakerRuntimeClient:
    retries: int | None = args.retries
    client = SageMakerRuntimeClient(
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,  # None: the client reads AWS_ENDPOINT_URL_* itself
        s3_endpoint_url=args.s3_endpoint_url,
        timeout=args.timeout,
        retry=retries,  # None: AWS_MAX_ATTEMPTS / AWS_RETRY_MODE / the profile, as boto3
    )
    policy = client.config.retry
    args.attempts = 1 if policy.mode == "off" else policy.max_attempts  # for the hints
    args.custom_endpoint = client.config.endpoint_url
    return client


def _realtime_members(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "accept": args.accept,
        "custom_attributes": args.custom_attributes,
        "target_variant": args.target_variant,
        "target_container_hostname": args.target_container_hostname,
        "inference_id": args.inference_id,
        "inference_component_name": args.inference_component,
        "session_id": args.session_id,
        "prefix_aware_id": args.prefix_aware_id,
    }


def _require_body(body: bytes | None) -> bytes:
    if body is None:
        raise _UsageError("no request body: pass BODY, @FILE, or pipe it to stdin")
    return body


def _say_content_type(args: argparse.Namespace, content_type: str | None) -> None:
    if args.verbose and args.content_type is None and content_type is not None:
        _info(f"ContentType sent: {content_type} (the body is JSON; --content-type overrides)")


async def _invoke(args: argparse.Namespace, body: bytes | None) -> int:
    data = _require_body(body)
    content_type = _content_type(args, data)
    _say_content_type(args, content_type)
    output = _check_output_file(args)
    out = _Stdout()
    async with _client(args) as rt:
        start = time.perf_counter()
        result = await rt.invoke_endpoint(
            args.endpoint,
            data,
            content_type=content_type,
            target_model=args.target_model,
            enable_explanations=args.enable_explanations,
            **_realtime_members(args),
        )
        elapsed = time.perf_counter() - start
    if output is not None:
        await _save_body(output, result.body, args)
    else:
        _print_response_body(out, result.body, pretty=args.json, content_type=result.content_type)
    if args.verbose:
        _info(
            *_members(
                [
                    ("ContentType", result.content_type),
                    ("InvokedProductionVariant", result.invoked_production_variant),
                    ("CustomAttributes", result.custom_attributes),
                    ("NewSessionId", result.new_session_id),
                    ("ClosedSessionId", result.closed_session_id),
                    ("RequestId", result.request_id),
                    ("Bytes", len(result.body)),
                    ("Elapsed", _ms(elapsed)),
                ]
            )
        )
    return EXIT_OK


async def _stream(args: argparse.Namespace, body: bytes | None) -> int:
    data = _require_body(body)
    content_type = _content_type(args, data)
    _say_content_type(args, content_type)
    output = _check_output_file(args)
    out = _Stdout()
    start = time.perf_counter()
    first: float | None = None
    finish: str | None = None
    async with _client(args) as rt:
        stream = rt.invoke_endpoint_with_response_stream(
            args.endpoint, data, content_type=content_type, **_realtime_members(args)
        )
        try:
            async with stream:
                if output is not None:
                    await _stream_to_file(stream, output, args)
                elif args.format == "raw":
                    check = _TextCheck()
                    try:
                        async for part in stream:
                            first = first or time.perf_counter()
                            check.feed(part)
                            out.write(part)
                    finally:  # text ends with a newline, even cut short by an error
                        if check.is_text(stream.content_type):
                            out.end_line()
                else:
                    async for token in stream.tokens(args.format):
                        first = first or time.perf_counter()
                        finish = token.finish_reason or finish
                        # The answer, as in TGI's generated_text: no special tokens, no
                        # reasoning, no tool-call deltas.
                        if token.kind == "text" and not token.special:
                            out.text(token.text)
        finally:
            if args.format != "raw" and output is None:
                out.end_line()  # the error line, if any, starts on a line of its own
            if args.verbose and stream.request_id is not None:  # it opened
                _info(
                    *_members(
                        [
                            ("Parts", stream.parts_received),
                            ("Bytes", stream.bytes_received),
                            ("TimeToFirstToken", None if first is None else _ms(first - start)),
                            ("Total", _ms(time.perf_counter() - start)),
                            ("FinishReason", finish),
                            ("ContentType", stream.content_type),
                            ("InvokedProductionVariant", stream.invoked_production_variant),
                            ("CustomAttributes", stream.custom_attributes),
                            ("RequestId", stream.request_id),
                        ]
                    )
                )
    return EXIT_OK


async def _stream_to_file(
    stream: AsyncIterable[bytes], path: Path, args: argparse.Namespace
) -> None:
    """``stream -o FILE``: the parts' exact bytes into FILE as they arrive, written beside it
    and renamed over it at the end of the stream; a stream that breaks leaves FILE untouched."""
    partial = path.with_name(f".{path.name}.partial")
    size = 0
    try:
        async with await anyio.open_file(partial, "wb") as sink:
            async for part in stream:
                await sink.write(part)
                size += len(part)
        await anyio.to_thread.run_sync(os.replace, partial, path)
    except OSError as exc:
        raise _UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            await anyio.Path(partial).unlink(missing_ok=True)
    if args.verbose:
        _info(f"Written: {size} bytes to {path}")


def _job_json(job: AsyncInferenceJob) -> str:
    return json.dumps(
        {
            "inference_id": job.inference_id,
            "output_location": job.output_location,
            "failure_location": job.failure_location,
            "request_id": job.request_id,
        },
        indent=2,
    )


async def _async(args: argparse.Namespace, body: bytes | None) -> int:
    if body is None and args.input_location is None:
        raise _UsageError("no input: pass BODY, @FILE, stdin, or --input-location s3://...")
    content_type = _content_type(args, body)
    _say_content_type(args, content_type)
    _check_output_file(args)
    out = _Stdout()
    async with _client(args) as rt:
        job = await rt.invoke_endpoint_async(
            args.endpoint,
            body=body,
            input_location=args.input_location,
            content_type=content_type,
            accept=args.accept,
            custom_attributes=args.custom_attributes,
            inference_id=args.inference_id,
            request_ttl_seconds=args.request_ttl_seconds,
            invocation_timeout_seconds=args.invocation_timeout_seconds,
            s3_output_path_extension=args.s3_output_path_extension,
            filename=args.filename,
            upload_to=args.upload_to,
        )
        if not args.wait:
            out.text(_job_json(job) + "\n")
            return EXIT_OK
        # Remembered before anything is printed: on Python 3.10 Ctrl-C raises between any two
        # bytecodes (asyncio.run cancels the task only from 3.11), so a SIGINT sent as soon as
        # the resume line shows must still find the job for main()'s message.
        args.pending_job = job
        _info(_job_json(job), f"to resume waiting later: {_resume_command(job, args)}")
        return await _await_job(args, job, out)


async def _wait(args: argparse.Namespace, body: bytes | None) -> int:
    _check_output_file(args)
    out = _Stdout()
    async with _client(args) as rt:
        job = rt.async_job(
            output_location=args.output_location,
            failure_location=args.failure_location,
            inference_id=args.inference_id,
        )
        return await _await_job(args, job, out)


async def _await_job(args: argparse.Namespace, job: AsyncInferenceJob, out: _Stdout) -> int:
    # Remembered for the Ctrl-C message in main(): the job runs on whatever happens here.
    args.pending_job = job
    start = time.perf_counter()
    result = await job.result(
        timeout=args.wait_timeout,
        poll_interval=args.poll_interval,
        max_poll_interval=max(30.0, args.poll_interval),
    )
    waited = time.perf_counter() - start
    args.pending_job = None
    output: Path | None = getattr(args, "output", None)
    if output is not None:
        await _save_body(output, result.body, args)  # expanded by _check_output_file
    else:
        _print_response_body(out, result.body, pretty=args.json, content_type=result.content_type)
    if args.verbose:
        _info(*_members([("ContentType", result.content_type), ("Waited", f"{waited:.2f} s")]))
    return EXIT_OK


def _chat_request(args: argparse.Namespace, prompt: bytes) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt.decode("utf-8", "replace")})
    request: dict[str, Any] = {"model": args.model, "messages": messages}
    if args.max_tokens is not None:
        request["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        request["temperature"] = args.temperature
    return request


def _chat_text(document: Any) -> str | None:
    try:
        content = document["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


async def _chat(args: argparse.Namespace, body: bytes | None) -> int:
    request = _chat_request(args, _require_body(body))
    component = args.inference_component
    out = _Stdout()
    start = time.perf_counter()
    async with _client(args) as rt:
        if args.no_stream:
            result = await rt.chat_completions(
                args.endpoint, json=request, inference_component_name=component
            )
            try:
                text = _chat_text(result.json())
            except (ValueError, RecursionError):
                text = None
            if text is None:
                _info("note: the answer is not a Chat Completions object; printed as is")
                _print_response_body(
                    out, result.body, pretty=False, content_type=result.content_type
                )
            else:
                out.text(text)
                out.end_line()
            if args.verbose:
                elapsed = _ms(time.perf_counter() - start)
                _info(*_members([("RequestId", result.request_id), ("Total", elapsed)]))
            return EXIT_OK
        first: float | None = None
        finish: str | None = None
        stream = rt.chat_completions_stream(
            args.endpoint, json=request, inference_component_name=component
        )
        try:
            async with stream:
                async for token in stream.tokens():
                    first = first or time.perf_counter()
                    finish = token.finish_reason or finish
                    out.text(token.text)
        finally:
            out.end_line()
            if args.verbose and stream.request_id is not None:
                _info(
                    *_members(
                        [
                            ("Chunks", stream.parts_received),
                            ("Bytes", stream.bytes_received),
                            ("TimeToFirstToken", None if first is None else _ms(first - start)),
                            ("Total", _ms(time.perf_counter() - start)),
                            ("FinishReason", finish),
                            ("ContentType", stream.content_type),
                            ("RequestId", stream.request_id),
                        ]
                    )
                )
    return EXIT_OK


async def _token(args: argparse.Namespace, body: bytes | None) -> int:
    async with _client(args) as rt:
        token = await rt.bearer_token(expires_in=args.expires_in)
        region = rt.region
    _Stdout().text(f"{token}\n")  # the one place a token is shown: asked for, on stdout
    if args.verbose:
        _info(f"region: {region}", f"expires: {token.expires_at.isoformat()}")
    return EXIT_OK


_COMMANDS = {
    "invoke": _invoke,
    "stream": _stream,
    "async": _async,
    "chat": _chat,
    "token": _token,
    "wait": _wait,
}


# -- batch -----------------------------------------------------------------------------------------
#
# `sagemaker-rt batch ENDPOINT INPUT.jsonl OUTPUT.jsonl`: one request per input line, one record
# per answered line appended to OUTPUT as results arrive. OUTPUT's first line is a header naming
# the input (path and SHA-256), so a rerun with the same OUTPUT resumes: lines already recorded
# are skipped. Loss-free under SIGKILL: records go out as whole lines appended by one write() on an
# O_APPEND descriptor (then fsync'd, for power loss too); a kill can at worst leave the last line
# unterminated, and the resume cuts that partial line off (its request is sent again).

_BATCH_HEADER_KEY = "sagemaker_rt_batch"
_BATCH_FORMAT = 1
_BATCH_READ_LINES = 1024  # input lines read per thread hop (the file is never read on the loop)
_BATCH_WRITE_LINES = 512  # records appended (and fsync'd) at most per write
_BATCH_LINE_OPTIONS = frozenset(
    {
        "content_type",
        "accept",
        "custom_attributes",
        "target_model",
        "target_variant",
        "target_container_hostname",
        "inference_id",
        "enable_explanations",
        "inference_component_name",
        "session_id",
        "prefix_aware_id",
    }
)

_BATCH_EPILOG = f"""\
Each non-blank input line is one request: the line itself is the body (it must be JSON; sent as
application/json unless --content-type says otherwise), or, with --per-line-options, an object
{{"body": ..., "content_type": ..., "custom_attributes": ..., ...}} (a string body is sent as
it is, any other value as JSON; the other keys are the snake_case AWS members).

OUTPUT gets a header line naming INPUT (path and SHA-256), then one line per input line as
results arrive, in completion order:
  {{"line": 3, "status": "ok", "body": ..., "content_type": ..., "request_id": ...}}
  {{"line": 4, "status": "error", "error": {{"type": "ModelError", "message": ..., ...}}}}
A line that is not JSON is recorded as that line's error and never sent.

Resumable: run the same command again and the lines already in OUTPUT are skipped (an OUTPUT
written for another INPUT is refused). Killing the command at any moment loses no recorded line
and duplicates none; requests in flight then are sent again by the rerun.

Async inference (--async --upload-to s3://bucket/prefix/): each line's body is uploaded to
PREFIX/<INPUT's hash>/<line>.input and submitted with InvokeEndpointAsync; --wait then awaits
the jobs (--concurrency at a time) and records their results. OUTPUT is a journal: for each
line the LAST record counts, a reader takes the last one:
  {{"line": 3, "status": "submitting", "input_location": ..., "inference_id": ...}}
  {{"line": 3, "status": "submitted", "inference_id": ..., "output_location": ...,
   "failure_location": ..., "submitted_at_utc": ..., ...}}
  {{"line": 3, "status": "ok", "body": ..., "output_location": ..., ...}}   (or "error")
"submitting" is written before the request goes out. Run the same command again (with --wait
to collect): lines submitted are never submitted again, lines finished are not awaited again.
A line left at "submitting" was cut off mid-request (killed): the service may have queued it,
so it is reported as unknown and not sent again unless you pass --resubmit-unknown.

{_EXAMPLES_HEADER}
  sagemaker-rt batch toy-sentiment reviews.jsonl scored.jsonl --concurrency 32
  sagemaker-rt batch toy-sentiment requests.jsonl scored.jsonl --per-line-options
  sagemaker-rt batch toy-summarizer docs.jsonl out.jsonl --async --upload-to s3://in/b/ --wait

exit codes: 0 every line of INPUT answered OK (--async without --wait: every line submitted);
1 some lines failed (each recorded in OUTPUT) or are unknown; 2 usage (missing INPUT,
unwritable OUTPUT, OUTPUT of another INPUT or mode, --async without --upload-to); 3 no
credentials; 4-6 an error that would fail every line stopped the batch (see `sagemaker-rt
--help`); 8 --wait: jobs still running at --wait-timeout (the command that resumes waiting is
printed); 130 interrupted (the same)."""


def _add_batch_parser(sub: Any) -> None:
    batch = _subparser(
        sub,
        "batch",
        help="score a JSONL file: one request per line, resumable",
        description="Send one InvokeEndpoint request per line of INPUT.jsonl, at most\n"
        "--concurrency at a time, and append each answer to OUTPUT.jsonl as it arrives.",
        epilog=_BATCH_EPILOG,
    )
    batch.add_argument("endpoint", metavar="ENDPOINT", help="the endpoint name")
    batch.add_argument("input", metavar="INPUT.jsonl", type=Path, help="one request per line")
    batch.add_argument("output", metavar="OUTPUT.jsonl", type=Path, help="the records (appended)")
    batch.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        metavar="N",
        help="requests in flight at most (default: %(default)s)",
    )
    batch.add_argument(
        "--per-line-options",
        action="store_true",
        help='each line is {"body": ..., "content_type": ..., ...} instead of the body itself',
    )
    batch.add_argument("--quiet", action="store_true", help="no progress on stderr")
    members = batch.add_argument_group("request members shared by every line")
    members.add_argument(
        "--content-type",
        metavar="MIME",
        help="the bodies' MIME type (default: application/json)",
    )
    members.add_argument("--accept", metavar="MIME", help="the MIME type wanted back")
    members.add_argument(
        "--custom-attributes", metavar="TEXT", help="passed through to the model container"
    )
    members.add_argument("--target-model", metavar="MODEL", help="multi-model endpoint's model")
    members.add_argument("--target-variant", metavar="VARIANT", help="production variant to call")
    members.add_argument(
        "--target-container-hostname", metavar="HOST", help="container of a multi-container model"
    )
    members.add_argument(
        "--inference-component",
        metavar="NAME",
        help="inference component to call (InferenceComponentName)",
    )
    jobs = batch.add_argument_group("async inference (InvokeEndpointAsync)")
    jobs.add_argument(
        "--async",
        dest="async_",
        action="store_true",
        help="submit one async inference job per line (needs --upload-to) and record its "
        "locations; --wait collects the results",
    )
    jobs.add_argument(
        "--upload-to",
        metavar="S3_PREFIX",
        help="s3://bucket/prefix/ the lines' bodies are uploaded under (one object per line, "
        "its key fixed by INPUT's hash and the line number)",
    )
    jobs.add_argument(
        "--wait",
        action="store_true",
        help="await every submitted job and record its result (resumable)",
    )
    jobs.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="submit again the lines whose submission was cut off (killed mid-request): the "
        "service may then run them twice",
    )
    jobs.add_argument(
        "--request-ttl-seconds", type=int, metavar="N", help="how long a job may queue (60-21600)"
    )
    jobs.add_argument(
        "--invocation-timeout-seconds",
        type=int,
        metavar="N",
        help="how long a job may run (1-3600)",
    )
    _add_polling(jobs)
    _add_connection(batch)


class _BatchInput:
    """INPUT as scanned once before any request: its hash, its size in lines."""

    def __init__(self, path: Path) -> None:
        digest = hashlib.sha256()
        self.path = path
        self.lines = 0  # physical lines: the largest line number
        self.requests = 0  # non-blank lines
        try:
            with path.open("rb") as source:
                for raw in source:
                    digest.update(raw)
                    self.lines += 1
                    if raw.strip():
                        self.requests += 1
        except OSError as exc:
            raise _UsageError(f"cannot read INPUT {path}: {exc.strerror or exc}") from None
        self.sha256 = digest.hexdigest()

    def header(self, *, async_mode: bool = False) -> bytes:
        """OUTPUT's first line (``"mode": "async"`` for async inference records)."""
        record: dict[str, Any] = {
            _BATCH_HEADER_KEY: _BATCH_FORMAT,
            "input": str(self.path.resolve()),
            "sha256": self.sha256,
        }
        if async_mode:
            record["mode"] = "async"
        return (json.dumps(record) + "\n").encode()


def _append(fd: int, data: bytes) -> None:
    """Append whole lines and make them durable (a kill mid-way leaves a cut line at worst)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


class _BatchOutput:
    """OUTPUT opened for appending, with what earlier runs recorded (a bitmap of line numbers)."""

    async_mode = False

    def __init__(self, path: Path, source: _BatchInput) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _UsageError(f"cannot write OUTPUT {path}: {exc.strerror or exc}") from None
        self.done = bytearray(source.lines // 8 + 1)
        self.answered = 0
        self.failed = 0
        try:
            self._resume(source)
        except BaseException:
            os.close(self.fd)
            raise

    def _resume(self, source: _BatchInput) -> None:
        offset = 0
        with open(self.fd, "rb", closefd=False) as existing:
            existing.seek(0)
            raw_header = existing.readline()
            if not raw_header.endswith(b"\n"):  # empty, or a header cut by a kill
                header = source.header(async_mode=self.async_mode)
                if not header.startswith(raw_header):  # someone else's one-line file
                    self._check_header(raw_header, source)
                os.ftruncate(self.fd, 0)
                _append(self.fd, header)
                return
            self._check_header(raw_header, source)
            offset = len(raw_header)
            for number, raw in enumerate(existing, start=2):
                if not raw.endswith(b"\n"):  # a record cut by a kill: its line is done again
                    os.ftruncate(self.fd, offset)
                    break
                try:
                    record = json.loads(raw)
                    line = int(record["line"])
                    status = record["status"]
                    if not isinstance(status, str):
                        raise TypeError(status)
                    if 1 <= line <= source.lines:
                        self._take(line, status, offset)
                except (ValueError, KeyError, TypeError):
                    raise _UsageError(
                        f"OUTPUT {self.path} line {number} is not a batch record: "
                        "was the file edited? choose another OUTPUT"
                    ) from None
                offset += len(raw)

    def _check_header(self, raw: bytes, source: _BatchInput) -> None:
        try:
            header = json.loads(raw)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get(_BATCH_HEADER_KEY) != _BATCH_FORMAT:
            raise _UsageError(
                f"OUTPUT {self.path} exists and is not a `sagemaker-rt batch` output: "
                "choose another path (it is never overwritten)"
            )
        if header.get("sha256") != source.sha256:
            raise _UsageError(
                f"OUTPUT {self.path} holds results of another input ({header.get('input')}, "
                f"sha256 {header.get('sha256')}), not of {source.path} (sha256 "
                f"{source.sha256}): choose another OUTPUT"
            )
        if (header.get("mode") == "async") != self.async_mode:
            if self.async_mode:
                what = "real-time results of this input: drop --async, or choose another OUTPUT"
            else:
                what = "async inference jobs of this input: add --async (--wait collects them)"
            raise _UsageError(f"OUTPUT {self.path} holds {what}")

    def _take(self, line: int, status: str, offset: int) -> None:
        """Count an earlier run's record (the first one for a line; there is only one)."""
        if not self.is_done(line):
            self.done[line // 8] |= 1 << (line % 8)
            self.answered += 1
            self.failed += status != "ok"

    def is_done(self, line: int) -> bool:
        """Whether OUTPUT already records input line ``line`` (1-based)."""
        return bool(self.done[line // 8] & (1 << (line % 8)))


class _Line:
    """One input line waiting for its request (the raw bytes; parsed when it is sent)."""

    __slots__ = ("number", "raw")

    def __init__(self, number: int, raw: bytes) -> None:
        self.number = number
        self.raw = raw


def _read_lines(source: Any, count: int) -> list[bytes]:
    lines: list[bytes] = []
    for raw in source:
        lines.append(raw)
        if len(lines) == count:
            break
    return lines


async def _pending_lines(
    path: Path, output: _BatchOutput, numbers: dict[int, int]
) -> AsyncIterator[_Line]:
    """The input lines OUTPUT does not record yet, read lazily in a worker thread."""
    source = await anyio.to_thread.run_sync(path.open, "rb")
    try:
        number = index = 0
        while chunk := await anyio.to_thread.run_sync(_read_lines, source, _BATCH_READ_LINES):
            for raw in chunk:
                number += 1
                if raw.strip() and not output.is_done(number):
                    numbers[index] = number  # the map yields indexes; the record needs this
                    index += 1
                    yield _Line(number, raw)
    finally:
        source.close()


class _LineInvoker:
    """An ``Invoker`` for ``map_invoke_iter`` whose items are input lines, parsed per call.

    A line that cannot be a request raises a ``ParamValidationError`` for ``body``: the map
    records that as the line's own error, and nothing is sent for it.
    """

    def __init__(self, client: SageMakerRuntimeClient, *, per_line_options: bool) -> None:
        self._client = client
        self._per_line = per_line_options

    @property
    def invoke_endpoint(self) -> Callable[..., Awaitable[InvokeEndpointResult]]:
        return self._invoke

    async def _invoke(self, endpoint_name: str, **shared: Any) -> InvokeEndpointResult:
        line: _Line = shared.pop("json")  # map_invoke_iter sends a non-bytes item as json=
        try:
            text = line.raw.decode("utf-8")
            value = json.loads(text)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise ParamValidationError("body", f"line {line.number} is not JSON: {exc}") from None
        if not self._per_line:
            shared.setdefault("content_type", "application/json")
            return await self._client.invoke_endpoint(endpoint_name, line.raw.strip(), **shared)
        if not isinstance(value, dict) or "body" not in value:
            raise ParamValidationError(
                "body", f'line {line.number} is not an object with a "body" (--per-line-options)'
            )
        unknown = sorted(set(value) - _BATCH_LINE_OPTIONS - {"body"})
        if unknown:
            raise ParamValidationError("body", f"line {line.number}: unknown keys {unknown}")
        body = value.pop("body")
        options = {**shared, **value}
        try:
            if isinstance(body, str):
                return await self._client.invoke_endpoint(endpoint_name, body, **options)
            return await self._client.invoke_endpoint(endpoint_name, json=body, **options)
        except ParamValidationError as exc:
            if exc.param not in value:
                raise
            # The line's own option: that line's error, not one to stop the batch for.
            raise ParamValidationError("body", f"line {line.number}: {exc}") from None


def _ok_record(number: int, result: InvokeEndpointResult | AsyncInferenceResult) -> dict[str, Any]:
    record: dict[str, Any] = {"line": number, "status": "ok"}
    try:
        text = result.body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_base64"] = base64.b64encode(result.body).decode("ascii")
    else:
        try:
            record["body"] = json.loads(text)
        except ValueError:
            record["body"] = text
    record["content_type"] = result.content_type
    if isinstance(result, AsyncInferenceResult):
        record["output_location"] = result.output_location
        record["inference_id"] = result.inference_id
        return record
    record["request_id"] = result.request_id
    return record


def _error_record(number: int, exc: SageMakerRuntimeError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for name in ("status_code", "error_code", "request_id"):
        value = getattr(exc, name, None)
        if value is not None:
            error[name] = value
    return {"line": number, "status": "error", "error": error}


class _BatchProgress:
    """Progress on stderr: a line rewritten in place on a terminal, else one every few seconds."""

    def __init__(self, total: int, already: int, *, quiet: bool, label: str = "batch") -> None:
        self.label = label
        self.total = total
        self.already = already
        self.done = 0
        self.failed = 0
        self._quiet = quiet
        self._tty = sys.stderr is not None and sys.stderr.isatty()
        self._start = self._last = time.monotonic()

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if not self._quiet and now - self._last >= (0.5 if self._tty else 5.0):
            self._last = now
            print(self.line(), end="\r" if self._tty else "\n", file=sys.stderr, flush=True)

    def line(self) -> str:
        """Where the batch stands: lines answered of all, the rate and the errors so far."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        return (
            f"{self.label}: {self.already + self.done}/{self.total} lines, "
            f"{self.done / elapsed:.1f} lines/s, {self.failed} errors this run"
        )


async def _write_records(receive: MemoryObjectReceiveStream[bytes], fd: int) -> None:
    """Append records as they come, many per write and fsync when they come fast."""
    chunk: list[bytes] = []
    try:
        async for record in receive:
            chunk.append(record)
            with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                while len(chunk) < _BATCH_WRITE_LINES:
                    chunk.append(receive.receive_nowait())
            data = b"".join(chunk)
            chunk.clear()  # before the write: a cancelled write thread still completes it
            await anyio.to_thread.run_sync(_append, fd, data)
    finally:
        # Cancelled or stopped by an error: what the consumer handed over is written anyway.
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                while True:
                    chunk.append(receive.receive_nowait())
            if chunk:
                await anyio.to_thread.run_sync(_append, fd, b"".join(chunk))
            receive.close()


async def _batch_run(
    args: argparse.Namespace,
    source: _BatchInput,
    output: _BatchOutput,
    progress: _BatchProgress,
    shared: dict[str, Any],
    numbers: dict[int, int],
) -> None:
    async with _client(args) as rt, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[bytes](_BATCH_WRITE_LINES)
        tg.start_soon(_write_records, receive, output.fd)
        async with (
            send,
            map_invoke_iter(
                _LineInvoker(rt, per_line_options=args.per_line_options),
                args.endpoint,
                _pending_lines(source.path, output, numbers),
                concurrency=args.concurrency,
                **shared,
            ) as outcomes,
        ):
            async for index, outcome in outcomes:
                number = numbers.pop(index)
                if isinstance(outcome, SageMakerRuntimeError):
                    record = _error_record(number, outcome)
                else:
                    record = _ok_record(number, outcome)
                await send.send((json.dumps(record) + "\n").encode())
                progress.update(failed=record["status"] != "ok")


async def _batch(args: argparse.Namespace, source: _BatchInput, output: _BatchOutput) -> int:
    progress = _BatchProgress(source.requests, output.answered, quiet=args.quiet)
    shared = {
        "content_type": args.content_type,
        "accept": args.accept,
        "custom_attributes": args.custom_attributes,
        "target_model": args.target_model,
        "target_variant": args.target_variant,
        "target_container_hostname": args.target_container_hostname,
        "inference_component_name": args.inference_component,
    }
    numbers: dict[int, int] = {}
    try:
        await _batch_run(args, source, output, progress, shared, numbers)
    except BaseExceptionGroup as group:  # the writer's task group: surface the error itself
        raise _first_leaf(group) from None
    if not args.quiet:
        print(progress.line(), file=sys.stderr)
    answered = output.answered + progress.done
    failed = output.failed + progress.failed
    _info(
        f"batch: {answered} of {source.requests} lines answered ({failed} failed) -> {args.output}"
    )
    return EXIT_OK if answered == source.requests and failed == 0 else EXIT_OTHER


# -- batch --async ---------------------------------------------------------------------------------
#
# `batch --async --upload-to s3://bucket/prefix/ [--wait]`: each line's body is uploaded to a key
# fixed by INPUT's hash and the line number (a rerun overwrites that object, never adds another),
# then submitted with InvokeEndpointAsync. OUTPUT is a journal, appended and fsync'd as in the
# real-time mode; for each line the last record counts:
#   submitting  durable before the request goes out: {"line", "status", "input_location",
#               "inference_id"}
#   submitted   the service queued it: the job's locations (job.to_dict() and "input_location")
#   ok / error  the final result, as in the real-time mode (ok adds "output_location" and
#               "inference_id")
# A line whose last record is "submitting" was cut off mid-request (killed, or the connection broke
# after sending): the service may or may not have queued it and no API can tell, so it is never
# sent again unless --resubmit-unknown says so (spec: nothing re-sent once the server may have
# acted on it, unless the user opted in).

_SUBMITTING, _SUBMITTED, _OK, _FAILED = 1, 2, 3, 4
_ASYNC_STATES = {"submitting": _SUBMITTING, "submitted": _SUBMITTED, "ok": _OK, "error": _FAILED}
_ASYNC_LINE_OPTIONS = frozenset(
    {
        "content_type",
        "accept",
        "custom_attributes",
        "inference_id",
        "request_ttl_seconds",
        "invocation_timeout_seconds",
    }
)
_REALTIME_ONLY = {
    "target_model": "--target-model",
    "target_variant": "--target-variant",
    "target_container_hostname": "--target-container-hostname",
    "inference_component": "--inference-component",
}
_ASYNC_ONLY = {
    "upload_to": "--upload-to",
    "wait": "--wait",
    "resubmit_unknown": "--resubmit-unknown",
    "request_ttl_seconds": "--request-ttl-seconds",
    "invocation_timeout_seconds": "--invocation-timeout-seconds",
    "wait_timeout": "--wait-timeout",
}
_RECORD_READ_LINES = 256  # submitted records read per thread hop when waiting


class _AsyncBatchOutput(_BatchOutput):
    """OUTPUT of an async batch: each line's state, and where its job's record is."""

    async_mode = True

    def __init__(self, path: Path, source: _BatchInput) -> None:
        self.state = bytearray(source.lines + 1)
        # Byte offset of each submitted line's record: 8 bytes a line, whatever the records.
        self.offsets = array("q", bytes(8 * (source.lines + 1)))
        super().__init__(path, source)

    def _take(self, line: int, status: str, offset: int) -> None:
        state = _ASYNC_STATES.get(status)
        if state is None:
            raise ValueError(status)
        self.state[line] = state  # the last record of a line counts
        if state == _SUBMITTED:
            self.offsets[line] = offset

    def rescan(self, source: _BatchInput) -> None:
        """Read OUTPUT again (after this run's submissions)."""
        self.state[:] = bytes(len(self.state))
        self._resume(source)

    def count(self, state: int) -> int:
        """Lines in ``state``."""
        return self.state.count(state)

    def job_records(self, numbers: Sequence[int]) -> list[tuple[int, dict[str, Any]]]:
        """The "submitted" records of lines ``numbers`` (read with pread: the fd appends)."""
        found = []
        for number in numbers:
            data, offset = b"", self.offsets[number]
            while not data.endswith(b"\n"):
                more = os.pread(self.fd, 4096, offset + len(data))
                if not more:
                    break
                data += more.partition(b"\n")[0] + (b"\n" if b"\n" in more else b"")
            found.append((number, json.loads(data)))
        return found


class _Journal:
    """Records appended durably; concurrent appends share one write and fsync (group commit)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: list[bytes] = []
        self._queued = self._durable = 0
        self._writing = False
        self._wake = anyio.Event()
        self._error: OSError | None = None

    async def append(self, record: dict[str, Any]) -> None:
        """Return once ``record`` is on disk (shielded: a cancelled caller still records it)."""
        self._queue.append((json.dumps(record) + "\n").encode())
        self._queued += 1
        ticket = self._queued
        with anyio.CancelScope(shield=True):
            while self._durable < ticket:
                if self._error is not None:
                    raise self._error
                if self._writing:
                    await self._wake.wait()
                    continue
                self._writing = True
                chunk, upto = b"".join(self._queue), self._queued
                self._queue.clear()
                try:
                    await anyio.to_thread.run_sync(_append, self._fd, chunk)
                    self._durable = upto
                except OSError as exc:
                    self._error = exc
                    raise
                finally:
                    self._writing = False
                    wake, self._wake = self._wake, anyio.Event()
                    wake.set()


class _AsyncLine:
    """One line's job request, parsed before anything is uploaded or sent."""

    __slots__ = ("body", "members", "number")

    def __init__(self, number: int, body: bytes, members: dict[str, Any]) -> None:
        self.number = number
        self.body = body
        self.members = members


def _async_request(line: _Line, args: argparse.Namespace, inference_id: str) -> _AsyncLine:
    """The line as a job: its body and members, checked as the client would (no I/O).

    Raises ``ParamValidationError`` for ``body`` (the line's own error) or for a shared option.
    """
    try:
        value = json.loads(line.raw.decode("utf-8"))
    except ValueError as exc:
        raise ParamValidationError("body", f"line {line.number} is not JSON: {exc}") from None
    members: dict[str, Any] = {
        "content_type": args.content_type,
        "accept": args.accept,
        "custom_attributes": args.custom_attributes,
        "inference_id": inference_id,
        "request_ttl_seconds": args.request_ttl_seconds,
        "invocation_timeout_seconds": args.invocation_timeout_seconds,
    }
    if not args.per_line_options:
        members["content_type"] = members["content_type"] or "application/json"
        body = line.raw.strip()
    else:
        if not isinstance(value, dict) or "body" not in value:
            raise ParamValidationError(
                "body", f'line {line.number} is not an object with a "body" (--per-line-options)'
            )
        unknown = sorted(set(value) - _ASYNC_LINE_OPTIONS - {"body"})
        if unknown:
            raise ParamValidationError("body", f"line {line.number}: unknown keys {unknown}")
        given = value.pop("body")
        if isinstance(given, str):
            body = given.encode("utf-8")
        else:
            body = json.dumps(given, separators=(",", ":"), ensure_ascii=False).encode()
            value.setdefault("content_type", members["content_type"] or "application/json")
        members.update(value)
    try:
        # The service's own header rules, checked now: a refused member must not leave an
        # upload behind, nor a "submitting" record for a request never sent.
        INVOKE_ENDPOINT_ASYNC.headers({**members, "input_location": "s3://b/k"})
    except ParamValidationError as exc:
        if not args.per_line_options or exc.param not in value:
            raise
        raise ParamValidationError("body", f"line {line.number}: {exc}") from None
    return _AsyncLine(line.number, body, members)


def _stops_the_batch(exc: SageMakerRuntimeError) -> bool:
    """Errors that would fail every line alike (as ``map_invoke_iter`` decides), and S3 ones."""
    if isinstance(exc, CredentialsError | ClientClosedError | S3Error):
        return True
    return isinstance(exc, ParamValidationError) and exc.param != "body"


async def _lines_where(path: Path, wanted: Callable[[int], bool]) -> AsyncIterator[_Line]:
    """INPUT's non-blank lines whose number ``wanted`` accepts, read in a worker thread."""
    source = await anyio.to_thread.run_sync(path.open, "rb")
    try:
        number = 0
        while chunk := await anyio.to_thread.run_sync(_read_lines, source, _BATCH_READ_LINES):
            for raw in chunk:
                number += 1
                if raw.strip() and wanted(number):
                    yield _Line(number, raw)
    finally:
        source.close()


_Item = TypeVar("_Item")


async def _pool(
    items: AsyncIterator[_Item], work: Callable[[_Item], Awaitable[None]], concurrency: int
) -> None:
    """``work`` on every item, ``concurrency`` at a time; the first error stops them all."""
    lock = anyio.Lock()

    async def worker() -> None:
        while True:
            async with lock:  # one puller at a time: an async generator is not re-entrant
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    return
            await work(item)

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:  # surface the error itself, as the real-time mode
        raise _first_leaf(group) from None
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:  # closed now (its file too), even when cancelled
            with anyio.CancelScope(shield=True):
                await aclose()


class _AsyncBatch:
    """Submit the lines not submitted yet, then (``--wait``) await the jobs not finished."""

    def __init__(
        self,
        args: argparse.Namespace,
        rt: SageMakerRuntimeClient,
        source: _BatchInput,
        output: _AsyncBatchOutput,
    ) -> None:
        self.args = args
        self.rt = rt
        self.source = source
        self.output = output
        self.journal = _Journal(output.fd)
        prefix = args.upload_to if args.upload_to.endswith("/") else args.upload_to + "/"
        # INPUT's hash in the key: another INPUT under the same prefix never overwrites these.
        self.staging = f"{prefix}{source.sha256[:16]}/"
        self.progress: _BatchProgress | None = None

    async def submit(self) -> None:
        resubmit = self.args.resubmit_unknown
        state = self.output.state

        def wanted(number: int) -> bool:
            return state[number] == 0 or (resubmit and state[number] == _SUBMITTING)

        todo = sum(1 for n in range(1, len(state)) if wanted(n))
        if not todo:
            return
        self.progress = _BatchProgress(todo, 0, quiet=self.args.quiet, label="submitted")
        lines = _lines_where(self.source.path, wanted)
        await _pool(lines, self._submit_line, self.args.concurrency)
        self._progress_done()

    async def _submit_line(self, line: _Line) -> None:
        number = line.number
        try:
            job = _async_request(line, self.args, f"batch-{self.source.sha256[:16]}-{number}")
        except ParamValidationError as exc:
            if _stops_the_batch(exc):
                raise
            await self._finish(_error_record(number, exc))
            return
        members = job.members
        location = await self.rt.upload_input(
            f"{self.staging}{number}.input", job.body, content_type=members["content_type"]
        )
        await self.journal.append(
            {
                "line": number,
                "status": "submitting",
                "input_location": location,
                "inference_id": members["inference_id"],
            }
        )
        try:
            submitted = await self.rt.invoke_endpoint_async(
                self.args.endpoint, input_location=location, **members
            )
        except TransportError as exc:
            if exc.request_sent and not exc.closed_before_response:
                # It may have been queued: the "submitting" record stands (unknown).
                self._tick(failed=True)
                return
            await self._finish(_error_record(number, exc))
            return
        except SageMakerRuntimeError as exc:
            if _stops_the_batch(exc):
                raise
            await self._finish(_error_record(number, exc))  # the service refused it
            return
        await self.journal.append(
            {
                "line": number,
                "status": "submitted",
                **submitted.to_dict(),
                "input_location": location,
            }
        )
        self._tick(failed=False)

    async def wait(self) -> None:
        await anyio.to_thread.run_sync(self.output.rescan, self.source)
        state = self.output.state
        numbers = array("q", (n for n in range(1, len(state)) if state[n] == _SUBMITTED))
        if not numbers:
            return
        self.progress = _BatchProgress(len(numbers), 0, quiet=self.args.quiet, label="finished")
        with anyio.move_on_after(self.args.wait_timeout):  # None: no limit of ours
            await _pool(self._jobs(numbers), self._wait_line, self.args.concurrency)
        self._progress_done()

    async def _jobs(self, numbers: array[int]) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        for start in range(0, len(numbers), _RECORD_READ_LINES):
            chunk = numbers[start : start + _RECORD_READ_LINES]
            for item in await anyio.to_thread.run_sync(self.output.job_records, chunk):
                yield item

    async def _wait_line(self, item: tuple[int, dict[str, Any]]) -> None:
        number, record = item
        keys = {k: v for k, v in record.items() if k not in ("line", "status", "input_location")}
        job = AsyncInferenceJob.from_dict(keys, self.rt)
        poll = self.args.poll_interval
        try:
            result = await job.result(poll_interval=poll, max_poll_interval=max(30.0, poll))
        except (AsyncInferenceFailure, AsyncInferenceTimeout) as exc:
            # Final: the failure object exists, or the job's own lifetime (TTL + invocation
            # timeout since submission) has passed and it can no longer finish.
            error = _error_record(number, exc)
            error["error"]["output_location"] = job.output_location
            if job.failure_location is not None:
                error["error"]["failure_location"] = job.failure_location
            await self._finish(error)
            return
        await self._finish(_ok_record(number, result))

    async def _finish(self, record: dict[str, Any]) -> None:
        await self.journal.append(record)
        self._tick(failed=record["status"] != "ok")

    def _tick(self, *, failed: bool) -> None:
        if self.progress is not None:
            self.progress.update(failed=failed)

    def _progress_done(self) -> None:
        if self.progress is not None and not self.args.quiet:
            print(self.progress.line(), file=sys.stderr)


def _resume_words(args: argparse.Namespace, *, wait: bool) -> str:
    """The command as given, minus --resubmit-unknown: it sends nothing a second time."""
    words = [w for w in args.argv if w != "--resubmit-unknown"]
    if wait and "--wait" not in words:
        words.append("--wait")
    return shlex.join([PROG, *words])


async def _async_batch(
    args: argparse.Namespace, source: _BatchInput, output: _AsyncBatchOutput
) -> int:
    async with _client(args) as rt:
        batch = _AsyncBatch(args, rt, source, output)
        await batch.submit()
        if args.wait:
            await batch.wait()
        await anyio.to_thread.run_sync(output.rescan, source)  # the counts, this run's included
    ok, failed = output.count(_OK), output.count(_FAILED)
    pending, unknown = output.count(_SUBMITTED), output.count(_SUBMITTING)
    _info(
        f"batch: {source.requests} lines: {ok} ok, {failed} failed, {pending} pending, "
        f"{unknown} unknown -> {args.output}"
    )
    if unknown:
        _info(
            f"warning: {unknown} lines were cut off while being submitted (killed, or the "
            "connection broke): the service may have queued them, so they are not sent again",
            "hint: to submit them again anyway (each may then run twice): "
            f"{_resume_words(args, wait=args.wait)} --resubmit-unknown",
        )
    if pending:
        if args.wait:
            _info(
                "hint: jobs are still running; resume waiting (nothing is submitted again): "
                + _resume_words(args, wait=True)
            )
            return EXIT_ASYNC_TIMEOUT
        _info(
            "hint: collect the results (nothing is submitted again): "
            + _resume_words(args, wait=True)
        )
    return EXIT_OK if failed == 0 and unknown == 0 else EXIT_OTHER


def _check_batch_flags(args: argparse.Namespace) -> None:
    """Flags that belong to the other mode, and --async's own needs: usage errors, no I/O."""
    if args.async_:
        given = [flag for name, flag in _REALTIME_ONLY.items() if getattr(args, name)]
        if given:
            raise _UsageError(f"{', '.join(given)} apply to real-time batches, not --async")
        if not args.upload_to:
            raise _UsageError(
                "--async needs --upload-to s3://bucket/prefix/: each line's body is uploaded "
                "there and the job reads it from S3"
            )
        if not args.upload_to.startswith("s3://"):
            raise _UsageError(f"--upload-to {args.upload_to}: must be an s3://bucket/prefix/ URI")
        bucket = args.upload_to[len("s3://") :].partition("/")[0]
        try:
            parse_s3_uri(f"s3://{bucket}/key")  # the bucket name's rules
        except ParamValidationError:
            raise _UsageError(
                f"--upload-to {args.upload_to}: {bucket!r} is not a valid bucket name"
            ) from None
        return
    given = [flag for name, flag in _ASYNC_ONLY.items() if getattr(args, name) not in (None, False)]
    if given:
        raise _UsageError(f"{', '.join(given)} apply to async batches: add --async")


def _batch_main(args: argparse.Namespace) -> int:
    """``sagemaker-rt batch``: everything checked before the first request, then the batch."""
    output: _BatchOutput | None = None
    try:
        _check_batch_flags(args)
        source = _BatchInput(args.input)
        if args.async_:
            output = _AsyncBatchOutput(args.output, source)
            return asyncio.run(_async_batch(args, source, output))
        output = _BatchOutput(args.output, source)
        return asyncio.run(_batch(args, source, output))
    except (SageMakerRuntimeError, _UsageError) as exc:
        lines = _describe(exc, args)
        if output is not None and args.async_:
            lines.append(
                "hint: resume (nothing is submitted again): " + _resume_words(args, wait=args.wait)
            )
        _fail(lines)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        if args.async_:
            _fail(
                [
                    "interrupted: resume (nothing is submitted again): "
                    + _resume_words(args, wait=args.wait)
                ]
            )
        else:
            _fail(["interrupted: rerun the same command to resume"])
        return EXIT_INTERRUPTED
    finally:
        if output is not None:
            os.close(output.fd)


async def _bidi(args: argparse.Namespace) -> int:
    """Stdin lines (or a file's chunks) in, the model's parts out, both at once."""
    import anyio
    import anyio.to_thread

    out = _Stdout()
    start = time.perf_counter()
    async with _client(args) as rt:
        session = rt.invoke_endpoint_with_bidirectional_stream(
            args.endpoint,
            target_variant=args.target_variant,
            model_invocation_path=args.model_invocation_path,
            model_query_string=args.model_query_string,
        )
        async with session:

            async def feed() -> None:
                # An error here is the session's: the iteration below raises it too.
                with contextlib.suppress(SageMakerRuntimeError):
                    if args.binary is not None:
                        async with await anyio.open_file(args.binary, "rb") as source:
                            while chunk := await source.read(args.chunk_size):
                                await session.send(chunk)
                    else:
                        while line := await anyio.to_thread.run_sync(
                            sys.stdin.readline, abandon_on_cancel=True
                        ):
                            text = line.rstrip("\r\n")
                            if text:
                                await session.send(text)
                    await session.end_input()

            failure: SageMakerRuntimeError | None = None
            async with anyio.create_task_group() as group:
                group.start_soon(feed)
                try:
                    async for part in session:
                        if part.data_type == "UTF8":
                            out.text(
                                part.text + ("" if part.completion_state == "PARTIAL" else "\n")
                            )
                        else:
                            out.write(part.data)
                except SageMakerRuntimeError as exc:
                    failure = exc  # raised outside the group: no ExceptionGroup around it
                finally:
                    group.cancel_scope.cancel()
                    if out.last_was_text:  # a PARTIAL answer cut short; BINARY stays exact
                        out.end_line()
            if failure is not None:
                raise failure
    if args.verbose:
        _info(
            *_members(
                [
                    ("PartsSent", session.parts_sent),
                    ("BytesSent", session.bytes_sent),
                    ("PartsReceived", session.parts_received),
                    ("BytesReceived", session.bytes_received),
                    ("Total", _ms(time.perf_counter() - start)),
                    ("InvokedProductionVariant", session.invoked_production_variant),
                    ("RequestId", session.request_id),
                ]
            )
        )
    return EXIT_OK


def _resume_command(job: AsyncInferenceJob, args: argparse.Namespace) -> str:
    """The exact ``sagemaker-rt wait`` command that awaits ``job`` again (never re-submits)."""
    words = [PROG, "wait", job.output_location]
    if job.failure_location:
        words += ["--failure-location", job.failure_location]
    if job.inference_id:
        words += ["--inference-id", job.inference_id]
    for flag in ("region", "profile", "endpoint_url", "s3_endpoint_url"):
        value = getattr(args, flag, None)
        if value:
            words += ["--" + flag.replace("_", "-"), value]
    return shlex.join(words)


# -- serve-fake ------------------------------------------------------------------------------------


_T = TypeVar("_T")


def _rejecting_bad_input(model: Callable[[Invocation], _T]) -> Callable[[Invocation], _T]:
    """The model, answering a body it cannot parse with a 400, as a real container would.

    The toy models assume a JSON object; left alone, a stray body would crash the handler and the
    fake would drop the connection, which the client retries and reports as a TransportError.
    """

    def model_or_400(invocation: Invocation) -> _T:
        try:
            return model(invocation)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelFailure(400, f"cannot parse the request: {type(exc).__name__}") from exc

    return model_or_400


def demo_fake(
    *, processing_time: float = 0.5, accept_any_credentials: bool = False
) -> FakeSageMakerRuntime:
    """The fake SageMaker Runtime ``serve-fake`` runs: the demo's toy models, signatures checked.

    ``toy-sentiment`` (InvokeEndpoint), ``toy-llm`` (a TGI stream; Chat Completions on the
    OpenAI-compatible route), ``flaky-llm`` (a stream that breaks), ``toy-chat`` (inference
    component ``small``: Chat Completions as LMI JSON lines) and ``toy-summarizer`` (async
    inference; results after ``processing_time`` seconds).
    ``accept_any_credentials``: any well-formed SigV4 signature passes (``serve-fake``'s default).
    """
    fake = FakeSageMakerRuntime(
        region=_FAKE_REGION,
        credentials=TEST_CREDENTIALS,
        accept_any_credentials=accept_any_credentials,
    )
    fake.add_endpoint("toy-sentiment", _rejecting_bad_input(sentiment_model), variant="variant-a")
    fake.add_endpoint("toy-llm", _rejecting_bad_input(toy_llm))
    fake.add_endpoint("flaky-llm", flaky_llm)
    # An endpoint hosting an inference component whose LMI container streams JSON lines.
    fake.add_inference_component("toy-chat", "small", chat_model(style="jsonlines", delay=0.02))
    fake.add_endpoint(
        "toy-summarizer",
        _rejecting_bad_input(toy_summarizer),
        async_output_path=_FAKE_ASYNC_OUTPUT,
        async_failure_path=_FAKE_ASYNC_FAILURE,
        processing_time=processing_time,
    )
    return fake


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _banner(
    fake: FakeSageMakerRuntime, host: str, port: int, args: argparse.Namespace
) -> list[str]:
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    creds = fake.credentials  # the fake's published test constants, not anyone's secret
    checking = (
        "SigV4 verified against the keys below"
        if not fake.accept_any_credentials
        else "any well-formed SigV4 credentials accepted; --verify-signatures checks them"
    )
    lines = [
        f"fake SageMaker Runtime listening on {url} ({checking}; S3 at the same URL)",
        "endpoints: toy-sentiment, toy-llm (stream, chat), flaky-llm (stream), "
        "toy-chat (chat, component small), toy-summarizer (async)",
    ]
    if not _is_loopback(host):
        lines.append("warning: reachable from other machines (--allow-remote)")
    keys = (
        "In another shell (the fake's public test credentials, not secrets):"
        if not fake.accept_any_credentials
        else "In another shell (your own credentials work too; these are public test ones):"
    )
    return [
        *lines,
        "",
        keys,
        f"  export AWS_ENDPOINT_URL={url} AWS_REGION={fake.region}",
        f"  export AWS_ACCESS_KEY_ID={creds.access_key_id}"
        f" AWS_SECRET_ACCESS_KEY={creds.secret_access_key}",
        f"""  {PROG} invoke toy-sentiment '{{"inputs": "I love this library"}}' --json -v""",
        f"""  {PROG} stream toy-llm '{{"inputs": "tell me a story"}}' -v""",
        f'  {PROG} chat toy-llm "tell me a story"',
        f"""  {PROG} async toy-summarizer '{{"document": "Async jobs write to S3"}}' --wait""",
        f"  {PROG} --help",
        "",
        "Ctrl-C stops it."
        if args.duration is None
        else f"Stopping after {args.duration:g} s (--for).",
    ]


def _serve_fake(args: argparse.Namespace) -> int:
    host: str = args.host
    if not _is_loopback(host) and not args.allow_remote:
        _info(
            f"error: --host {host} is not a loopback address: the fake accepts publicly known "
            "test credentials, so anyone who can reach it could call it",
            "hint: use --host 127.0.0.1, or pass --allow-remote if that is what you want",
        )
        return EXIT_USAGE
    fake = demo_fake(accept_any_credentials=not args.verify_signatures)
    server = fake.serve(host=host, port=args.port)
    try:
        server.start()
    except RuntimeError as exc:
        _info(f"error: cannot serve on {host}:{args.port}: {exc}", "hint: try another --port")
        return EXIT_OTHER
    bidi = None
    if args.bidi_port is not None:
        from .testing._bidi import BIDI_HANDLERS, FakeBidiServer

        bidi = FakeBidiServer(host=host, port=args.bidi_port, region=fake.region)
        try:
            bidi.start()
        except RuntimeError as exc:
            server.stop()
            _info(f"error: cannot serve on {host}:{args.bidi_port}: {exc}")
            return EXIT_OTHER
    try:
        banner = _banner(fake, host, server.port, args)
        if bidi is not None:
            banner[1:1] = [
                f"bidirectional streams (HTTP/2) on {bidi.url}: {', '.join(BIDI_HANDLERS)}",
                f"  {PROG} bidi echo --endpoint-url {bidi.url}",
            ]
        _Stdout().text("\n".join(banner) + "\n")
        if args.duration is not None:
            time.sleep(args.duration)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this command is meant to end
    finally:
        server.stop()
        if bidi is not None:
            bidi.stop()
    _info(f"stopped; the fake answered {len(fake.requests)} SageMaker requests")
    return EXIT_OK


# -- errors ----------------------------------------------------------------------------------------


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception (see ``sagemaker-rt --help``)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ParamValidationError | _UsageError):
        return EXIT_USAGE
    if isinstance(exc, CredentialsError):
        return EXIT_CREDENTIALS
    if isinstance(exc, AsyncInferenceTimeout):
        return EXIT_ASYNC_TIMEOUT
    if isinstance(exc, StreamError | AsyncInferenceFailure):
        return EXIT_FAILED
    if isinstance(exc, TransportError):
        return EXIT_TRANSPORT
    if isinstance(exc, ServiceError):
        transient = isinstance(exc, ThrottlingError | ModelNotReadyException) or exc.retryable
        return EXIT_SERVICE_SERVER if exc.status_code >= 500 or transient else EXIT_SERVICE_CLIENT
    return EXIT_OTHER


def _describe(exc: SageMakerRuntimeError | _UsageError, args: argparse.Namespace) -> list[str]:
    """One readable line for the error, then indented details and hints.

    Never a secret: the library keeps them out of every message, and nothing here reads the
    credentials.
    """
    name = type(exc).__name__
    if isinstance(exc, _UsageError):
        return [f"error: {exc}", f"hint: `{PROG} {args.command} --help` shows the usage"]
    if isinstance(exc, ParamValidationError):
        flag = _FLAGS.get(exc.param, exc.param)
        lines = [f"error: {name}: {flag}: {_cli_words(exc.reason)}"]
        if exc.param == "region":
            lines.append("hint: pass --region or set AWS_REGION")
        if exc.param == "body" and args.command == "async" and "128,000" in exc.reason:
            lines.append(
                "hint: pass --upload-to s3://bucket/prefix/ to upload it first and send it "
                "by location"
            )
        return lines
    if isinstance(exc, ServiceError):
        # ServiceError's str is "<AWS error code> (HTTP <status>, request_id=...): <message>".
        return [f"error: {exc}", *_service_hints(exc, args)]
    if isinstance(exc, StreamError):
        lines = [f"error: {name}: {_cli_words(str(exc))}"]
        lines.append(
            f"  after {exc.parts_received} parts ({exc.bytes_received} bytes); "
            "a stream is never retried once it has started"
        )
        if args.command == "chat" and isinstance(exc, FramingError):
            lines.append(
                "hint: the answer is not Chat Completions chunks: the container may not speak "
                "the OpenAI API; try `sagemaker-rt stream` with its own request format"
            )
        elif isinstance(exc, FramingError):
            lines.append(f"hint: the bytes do not fit --format {args.format}: try --format raw")
        elif isinstance(exc, ContainerError):
            lines.append("hint: the model container reported this error inside its stream")
        return lines
    lines = [f"error: {name}: {_cli_words(str(exc))}"]
    if isinstance(exc, CredentialsError):
        lines.append(
            "hint: set AWS_PROFILE or pass --profile, or export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (for `sagemaker-rt serve-fake`: the values it prints)"
        )
    elif isinstance(exc, RequestTimeout):
        lines.append(f"hint: the {exc.timeout} deadline passed: raise --timeout")
        if exc.request_sent:
            lines.append("  the request may have reached the model; it was not sent again")
    elif isinstance(exc, TransportError):
        url = _endpoint_url(args)
        if url is not None:
            lines.append(
                f"hint: is anything listening at {url}? "
                "(`sagemaker-rt serve-fake` starts a local endpoint)"
            )
        else:
            lines.append("hint: check the network and --region")
    elif isinstance(exc, AsyncInferenceFailure):
        job = exc.job
        if isinstance(job, AsyncInferenceJob) and job.failure_location:
            lines.append(f"  failure document: {job.failure_location}")
    elif isinstance(exc, AsyncInferenceTimeout):
        job = exc.job
        if isinstance(job, AsyncInferenceJob):
            lines.append(
                f"hint: the job may still finish: its output will appear at {job.output_location}"
            )
            lines.append(
                f"hint: resume waiting (nothing is submitted again): {_resume_command(job, args)}"
            )
    return lines


def _chat_hints(exc: ServiceError) -> list[str] | None:
    """Hints for `chat` (the OpenAI-compatible route); None: the generic ones apply."""
    if isinstance(exc, ModelError):
        status = exc.original_status_code
        return [
            f"hint: the model container refused the Chat Completions request (its status: "
            f"{status}): it may not speak the OpenAI API (vLLM, SGLang, TGI Messages, LMI do); "
            "use `sagemaker-rt invoke` / `stream` with the request format it expects"
        ]
    if isinstance(exc, NoCapacityError):
        return [
            "hint: the inference component is scaled to zero; this request starts the "
            "scale-out: try again in a few minutes"
        ]
    if isinstance(exc, AuthenticationError | AccessDeniedError):
        return [
            "hint: the bearer token was refused: the identity needs "
            "sagemaker:CallWithBearerToken and sagemaker:InvokeEndpoint, and the clock must "
            "be right"
        ]
    return None


def _cli_words(text: str) -> str:
    """The library speaks Python ("pass region="); the terminal speaks flags ("--region")."""
    for param, flag in _FLAGS.items():
        if flag.startswith("--"):
            text = text.replace(f"{param}=", flag)
    return text


def _service_hints(exc: ServiceError, args: argparse.Namespace) -> list[str]:
    if args.command == "chat":
        hints = _chat_hints(exc)
        if hints is not None:
            return hints
    if isinstance(exc, ModelError):
        details = _members(
            [("model status", exc.original_status_code), ("logs", exc.log_stream_arn)]
        )
        hints = [f"  {'; '.join(details)}"] if details else []
        return [
            *hints,
            "hint: the model container answered with an error: check BODY and "
            "--content-type against what the model expects",
        ]
    if isinstance(exc, S3Error):
        return [
            f"hint: S3 refused s3://{exc.bucket}/{exc.key}: check --s3-endpoint-url and the "
            "credentials' S3 permissions"
        ]
    if isinstance(exc, ValidationError) and "not found" in exc.message:
        return ["hint: check the endpoint name and --region"]
    if isinstance(exc, AuthenticationError):
        return [
            "hint: the service rejected the credentials or the signature: check --profile and "
            "the clock (for `sagemaker-rt serve-fake`: export the values it prints)"
        ]
    if exit_code_for(exc) == EXIT_SERVICE_SERVER:
        if not exc.retryable:  # e.g. InternalDependencyException: another attempt cannot help
            return ["hint: the service (or a dependency of it) failed: try again later"]
        attempts: int = getattr(args, "attempts", 1)
        return [
            f"hint: gave up after {attempts} attempt{'s' if attempts > 1 else ''}: try again "
            "later, or raise --retries"
        ]
    if exc.status_code == 403:
        return ["hint: the credentials in use lack the IAM permission for this call"]
    return []


# -- entry point ---------------------------------------------------------------------------------


def _fail(lines: list[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    for line in lines:
        print(line, file=sys.stderr)


def _parse(argv: list[str] | None) -> argparse.Namespace | int:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    """Run ``sagemaker-rt`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parsed = _parse(argv)
    if isinstance(parsed, int):
        return parsed
    args = parsed
    if args.command == "serve-fake":
        return _serve_fake(args)
    if args.command == "batch":
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return _batch_main(args)
    if args.command == "bidi":
        try:
            return asyncio.run(_bidi(args))
        except (SageMakerRuntimeError, _UsageError) as exc:
            _fail(_describe(exc, args))
            return exit_code_for(exc)
        except KeyboardInterrupt:
            _fail(["interrupted"])
            return EXIT_INTERRUPTED
        except OSError as exc:  # --binary FILE unreadable
            _fail([f"error: {exc}"])
            return EXIT_USAGE
    command = _COMMANDS[args.command]
    try:
        # An async job may take its input from S3 alone: then a piped stdin is not the body.
        from_s3 = args.command == "async" and args.input_location is not None
        if args.command in ("token", "wait"):
            body = None
        else:
            body = None if from_s3 and args.body is None else read_body(args.body)
            _refuse_broken_json(args, body)
        return asyncio.run(command(args, body))
    except (SageMakerRuntimeError, _UsageError) as exc:
        _fail(_describe(exc, args))
        return exit_code_for(exc)
    except KeyboardInterrupt:
        lines = ["interrupted"]
        job = getattr(args, "pending_job", None)
        if isinstance(job, AsyncInferenceJob):
            lines += [
                f"the job was submitted and keeps running; its output will appear at "
                f"{job.output_location}",
                f"hint: resume waiting (nothing is submitted again): {_resume_command(job, args)}",
            ]
        _fail(lines)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to say, and nowhere to say it.
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    # Python would otherwise report the broken pipe again when it flushes stdout at exit.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    raise SystemExit(main())
