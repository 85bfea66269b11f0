"""An Async Inference job: where its result will appear in S3, and awaiting it.

InvokeEndpointAsync answers at once with two S3 URIs; the model's output or a failure object
appears at one of them later. ``AsyncInferenceJob.result()`` polls both (HEAD the output, then
the failure) with backoff up to a cap, returns the output, raises ``AsyncInferenceFailure`` with
the failure payload, or ``AsyncInferenceTimeout`` at the deadline. A poll cannot tell "queued"
from "dropped", so the default deadline is the job's own: queue TTL + invocation timeout
(spec §8). Polling holds no connection between checks, so cancelling a wait is always clean.
A poll that fails for a reason another poll may fix (no connection, S3's 503 ``SlowDown``) is
retried, but not for the job's whole lifetime: S3 unreachable for ``max_unreachable_seconds``
(5 minutes by default) ends the wait with that typed error, and the job can be awaited again.

A job outlives the process that submitted it: ``job.to_dict()`` is plain JSON (for a queue or
a database) and ``AsyncInferenceJob.from_dict(data, client)`` / ``client.async_job(...)`` make it
again; only the output location is needed. Its default deadline then counts from the recorded
wall-clock submission time, or from the re-attachment when that is unknown (never shorter
than the job's own lifetime, so a wait never gives up on a job that can still finish).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._endpoints import parse_s3_uri
from ._errors import (
    AsyncInferenceFailure,
    AsyncInferenceTimeout,
    ParamValidationError,
    S3Error,
    TransportError,
)

if TYPE_CHECKING:
    from ._s3 import S3Client

__all__ = ["AsyncInferenceJob", "AsyncInferenceResult"]

logger = logging.getLogger("sagemaker_rt_async")

DEFAULT_REQUEST_TTL_S = 21_600  # the service's defaults when the request does not set them
DEFAULT_INVOCATION_TIMEOUT_S = 900
_DEADLINE_MARGIN_S = 60.0
DEFAULT_MAX_UNREACHABLE_S = 300.0
# A wait gives up on an unreachable S3 only after this many failed polls in a row as well: one
# poll that itself hung for the whole bound (a black-holed connection) is not yet an outage.
_MIN_FAILED_POLLS = 3


@dataclass(frozen=True, slots=True)
class AsyncInferenceResult:
    """The output of a finished job: the model's bytes and content type, and where they were."""

    body: bytes = field(repr=False)
    content_type: str | None
    output_location: str
    inference_id: str | None

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class JobFactory(Protocol):
    """What ``AsyncInferenceJob.from_dict`` needs: the client's ``async_job``."""

    def async_job(
        self,
        *,
        output_location: str,
        failure_location: str | None = None,
        inference_id: str | None = None,
        request_id: str | None = None,
        submitted_at_utc: datetime | str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
    ) -> AsyncInferenceJob: ...


_DICT_KEYS = (
    "inference_id",
    "output_location",
    "failure_location",
    "request_id",
    "submitted_at_utc",
    "request_ttl_seconds",
    "invocation_timeout_seconds",
)


def parse_utc(name: str, value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 string (``Z`` accepted)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParamValidationError(name, f"{value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise ParamValidationError(name, "must be a datetime, an ISO 8601 string or None")
    if value.tzinfo is None:
        raise ParamValidationError(name, "must say its time zone (UTC), e.g. ...Z")
    return value.astimezone(timezone.utc)


class AsyncInferenceJob:
    """A submitted InvokeEndpointAsync request; ``await job.result()`` for its output.

    Made by ``invoke_endpoint_async``, or again later (another process, after a restart) by
    ``client.async_job(output_location=...)`` or ``AsyncInferenceJob.from_dict(job.to_dict(),
    client)``: ``poll()`` and ``result()`` work the same.
    """

    def __init__(
        self,
        *,
        inference_id: str | None,
        output_location: str,
        failure_location: str | None,
        request_id: str | None,
        s3: S3Client,
        submitted_at: float | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
        submitted_at_utc: datetime | None = None,
        clock: Callable[[], float] = anyio.current_time,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.inference_id = inference_id
        """The InferenceId (yours, or generated by the service); None if re-attached without."""
        self.output_location = output_location
        """The S3 URI the output will be written to."""
        self.failure_location = failure_location
        """The S3 URI a failure will be written to (None if the endpoint has no failure path)."""
        self.request_id = request_id
        """``x-amzn-RequestId`` of the submission."""
        self.submitted_at = submitted_at
        """``anyio.current_time()`` when the service accepted the job (None if re-attached)."""
        self.submitted_at_utc = submitted_at_utc
        """The wall-clock time (UTC) the job was accepted, if known; kept by ``to_dict()``."""
        self.request_ttl_seconds = request_ttl_seconds
        self.invocation_timeout_seconds = invocation_timeout_seconds
        self._s3 = s3
        self._clock = clock
        self._wall_clock = wall_clock
        self._output = parse_s3_uri(output_location)
        self._failure = parse_s3_uri(failure_location) if failure_location else None

    @property
    def _name(self) -> str:
        return self.inference_id or self.output_location

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to await this job again, as JSON-ready values.

        ``AsyncInferenceJob.from_dict(data, client)`` (or ``client.async_job(**data)``) makes
        it again, in this process or another one.
        """
        when = self.submitted_at_utc
        return {
            "inference_id": self.inference_id,
            "output_location": self.output_location,
            "failure_location": self.failure_location,
            "request_id": self.request_id,
            "submitted_at_utc": None if when is None else when.isoformat().replace("+00:00", "Z"),
            "request_ttl_seconds": self.request_ttl_seconds,
            "invocation_timeout_seconds": self.invocation_timeout_seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], client: JobFactory) -> AsyncInferenceJob:
        """The job ``to_dict()`` described, polling S3 with ``client``'s credentials.

        Raises ``ParamValidationError`` for a mapping that is not one ``to_dict()`` made (an
        unknown key, no ``output_location``, a value of the wrong type).
        """
        if not isinstance(data, Mapping):
            raise ParamValidationError("data", "must be the mapping job.to_dict() returned")
        unknown = sorted(str(k) for k in data if k not in _DICT_KEYS)
        if unknown:
            raise ParamValidationError("data", f"unknown keys: {', '.join(unknown)}")
        for key in ("inference_id", "output_location", "failure_location", "request_id"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise ParamValidationError(key, "must be a string or None")
        for key in ("request_ttl_seconds", "invocation_timeout_seconds"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ParamValidationError(key, "must be an int or None")
        output = data.get("output_location")
        if not output:
            raise ParamValidationError("output_location", "is required")
        return client.async_job(
            output_location=output,
            failure_location=data.get("failure_location"),
            inference_id=data.get("inference_id"),
            request_id=data.get("request_id"),
            submitted_at_utc=data.get("submitted_at_utc"),
            request_ttl_seconds=data.get("request_ttl_seconds"),
            invocation_timeout_seconds=data.get("invocation_timeout_seconds"),
        )

    def __repr__(self) -> str:
        return (
            f"AsyncInferenceJob(inference_id={self.inference_id!r}, "
            f"output_location={self.output_location!r}, "
            f"failure_location={self.failure_location!r})"
        )

    @property
    def default_deadline(self) -> float:
        """Seconds after submission past which the job can no longer finish (TTL + timeout)."""
        ttl = self.request_ttl_seconds or DEFAULT_REQUEST_TTL_S
        run = self.invocation_timeout_seconds or DEFAULT_INVOCATION_TIMEOUT_S
        return ttl + run + _DEADLINE_MARGIN_S

    async def poll(
        self, *, access_denied_means_pending: bool = False
    ) -> AsyncInferenceResult | None:
        """Check once: the result if the output exists, None if still pending.

        Raises ``AsyncInferenceFailure`` when the failure object exists. S3 answers 403 instead
        of 404 for a missing key when the caller lacks ``s3:ListBucket``; pass
        ``access_denied_means_pending=True`` to treat that as "not there yet".
        """
        output = await self._head(self._output, access_denied_means_pending)
        if output:
            obj = await self._s3.get_object(*self._output)
            return AsyncInferenceResult(
                body=obj.body,
                content_type=obj.content_type,
                output_location=self.output_location,
                inference_id=self.inference_id,
            )
        if self._failure is not None and await self._head(
            self._failure, access_denied_means_pending
        ):
            obj = await self._s3.get_object(*self._failure)
            text = obj.body.decode("utf-8", "replace")
            shown = text if len(text) <= 500 else text[:497] + "..."
            raise AsyncInferenceFailure(
                f"async inference {self._name} failed: {shown}",
                job=self,
                payload=obj.body,
                content_type=obj.content_type,
            )
        return None

    async def _head(self, where: tuple[str, str], access_denied_means_pending: bool) -> bool:
        try:
            return await self._s3.head_object(*where) is not None
        except S3Error as exc:
            if access_denied_means_pending and exc.status_code == 403:
                return False
            raise

    async def result(
        self,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
        access_denied_means_pending: bool = False,
        max_unreachable_seconds: float | None = DEFAULT_MAX_UNREACHABLE_S,
    ) -> AsyncInferenceResult:
        """Wait for the job: its output, or ``AsyncInferenceFailure``, or ``AsyncInferenceTimeout``.

        Polls every ``poll_interval`` seconds at first, growing by half each time (with jitter)
        up to ``max_poll_interval``. ``timeout`` counts from this call (default: until the job's
        own deadline, its queue TTL plus invocation timeout after submission). Cancelling the
        wait is safe; the job can be awaited again.

        A poll that fails for a reason another poll may fix (a connection failure or timeout,
        a retryable S3 answer such as 503 ``SlowDown``) is retried at the next interval. When
        polls have failed that way for ``max_unreachable_seconds`` since the last one that got
        an answer (default 300; and at least 3 polls in a row), the wait gives up: a
        ``TransportError`` saying how long S3 was unreachable (chained to the last failure),
        or the last retryable ``S3Error`` itself. The job is not affected: await it again once
        S3 is reachable. ``None`` retries such failures until the deadline. Errors another
        poll cannot fix (403, a missing bucket, ...) end the wait at once.
        """
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ParamValidationError(
                "poll_interval", "must be > 0 and not above max_poll_interval"
            )
        if max_unreachable_seconds is not None and not max_unreachable_seconds > 0:
            raise ParamValidationError("max_unreachable_seconds", "must be > 0 or None")
        start = self._clock()
        if timeout is None:
            if self.submitted_at is not None:
                deadline = self.submitted_at + self.default_deadline
            elif self.submitted_at_utc is not None:
                age = self._wall_clock() - self.submitted_at_utc.timestamp()
                deadline = start - age + self.default_deadline
            else:  # unknown age: the job's whole lifetime from now, never less
                deadline = start + self.default_deadline
        else:
            if timeout < 0:
                raise ParamValidationError("timeout", "must not be negative")
            deadline = start + timeout
        interval = poll_interval
        answered_at = start  # the last poll S3 answered (this call counts as one)
        failed_in_a_row = 0
        while True:
            try:
                found = await self.poll(access_denied_means_pending=access_denied_means_pending)
            except (S3Error, TransportError) as exc:
                # A wait can last hours: one 503 SlowDown or dropped connection must not end
                # it. Errors that another poll cannot fix (403, 404 bucket, ...) still do.
                if not exc.retryable and not isinstance(exc, TransportError):
                    raise
                failed_in_a_row += 1
                unreachable = self._clock() - answered_at
                if (
                    max_unreachable_seconds is not None
                    and unreachable >= max_unreachable_seconds
                    and failed_in_a_row >= _MIN_FAILED_POLLS
                ):
                    if isinstance(exc, S3Error):
                        raise  # S3's own answer (SlowDown, 503) says more than we could
                    raise self._unreachable(exc, unreachable, failed_in_a_row) from exc
                logger.debug("poll of %s failed, will retry: %s", self._name, exc)
                found = None
            else:
                answered_at = self._clock()
                failed_in_a_row = 0
            if found is not None:
                return found
            now = self._clock()
            if now >= deadline:
                raise AsyncInferenceTimeout(
                    f"async inference {self._name}: no output at {self.output_location} "
                    f"after {now - start:.1f} s",
                    job=self,
                    waited=now - start,
                )
            # Jitter (50-100 % of the interval) keeps many waiting jobs from polling in lockstep.
            delay = min(interval, deadline - now)
            await anyio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - not crypto
            interval = min(interval * 1.5, max_poll_interval)

    def _unreachable(self, last: TransportError, seconds: float, polls: int) -> TransportError:
        """The error a wait gives up with when no connection to S3 worked for too long."""
        error = TransportError(
            f"async inference {self._name}: S3 unreachable for {seconds:.1f} s "
            f"({polls} polls in a row failed; last: {last}); the job is not affected: "
            f"await it again later (its output will appear at {self.output_location})"
        )
        error.request_id = last.request_id
        return error
