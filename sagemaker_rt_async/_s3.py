"""GET, HEAD and PUT of one S3 object, signed with our SigV4 in S3 mode (spec §5.4, §8).

Async inference reads its results from S3 and may upload its inputs there; this is the whole
S3 the library needs. Requests are built by hand with exactly the signed headers, the path
encoded once by ``s3_object_url`` and sent as signed on both engines (``_transport``); key
segments ``.`` and ``..`` go out as ``%2E`` / ``%2E%2E`` because httpx would drop them.
Bodies are read raw (never decompressed); error bodies are capped at 64 KiB.

The bucket's region: requests start in the client's region. When S3 answers that the bucket
lives elsewhere (301 ``PermanentRedirect``, 400 ``AuthorizationHeaderMalformed`` /
``IllegalLocationConstraintException``, with ``x-amz-bucket-region`` or ``<Region>``), the hint
is cached per bucket and the request is re-signed and sent once more, as botocore does. A 307
``TemporaryRedirect`` is followed once, and only to an S3 host of the same partition for the same
bucket; nothing else is ever followed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._endpoints import normalize_region, parse_s3_uri, partition_for, s3_object_url
from ._errors import ParamValidationError, ResponseTooLarge, S3Error
from ._exchange import prepare
from ._models import Timeout

if TYPE_CHECKING:
    from ._exchange import Exchange, Response

__all__ = ["S3Client", "S3Object"]

logger = logging.getLogger("sagemaker_rt_async")

# S3 error documents are a few hundred bytes; a larger body is cut so a misbehaving proxy cannot
# make us buffer without bound.
# Bucket -> region hints; a client talks to a handful of buckets, the bound is only a guard.
_MAX_CACHED_REGIONS = 1024
_REGION_HINT_CODES = frozenset(
    {"AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
_REGION_LABEL_RE = re.compile(r"(?:s3(?:-fips)?-)?([a-z]{2}(?:-[a-z]+)+-\d+)", re.ASCII)

# S3Error.error_code when an object exceeds get_object(max_bytes=...); ours, not S3's.
_TOO_LARGE = "ObjectTooLarge"


@dataclass(frozen=True, slots=True)
class S3Object:
    """One S3 object (or, from ``head_object``, its metadata with an empty ``body``).

    ``etag`` is the ``ETag`` header as S3 sends it, quotes included; ``headers`` holds every
    response header (case-insensitive lookup).
    """

    bucket: str
    key: str
    body: bytes = field(repr=False)
    content_type: str | None
    content_length: int
    etag: str | None
    headers: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    host: str
    path: str
    region: str


class S3Client:
    """GetObject, HeadObject and PutObject, sent through the client's exchange.

    Args:
        exchange: the ``Exchange`` that signs (with the client's credentials) and sends.
        region: where buckets are assumed to live until S3 says otherwise.
        endpoint_url: an S3-compatible server (moto, MinIO, a VPC endpoint); addressed path
            style, never combined with ``use_fips`` / ``use_dualstack``.
        use_fips: use the ``s3-fips`` hosts.
        use_dualstack: use the dual-stack hosts.
        force_path_style: address ``s3.{region}.../{bucket}/{key}`` even for DNS-safe buckets.
        timeout: the default deadlines of every request.

    Errors: ``S3Error`` for an error answer (``error_code`` from S3's XML, or the status as
    text when there is no XML, e.g. ``"404"`` for a HEAD, as botocore does), ``TransportError``
    when no answer came, ``ParamValidationError`` for an invalid bucket, key or region.
    """

    def __init__(
        self,
        *,
        exchange: Exchange,
        region: str,
        endpoint_url: str | None = None,
        use_fips: bool = False,
        use_dualstack: bool = False,
        force_path_style: bool = False,
        timeout: Timeout = Timeout(),  # noqa: B008 - a frozen value, safe to share
    ) -> None:
        # Validates the region (and turns a FIPS pseudo-region into use_fips) up front.
        self._region, forced_fips = normalize_region(region)
        self._exchange = exchange
        self._endpoint_url = endpoint_url
        self._use_fips = use_fips or forced_fips
        self._use_dualstack = use_dualstack
        self._force_path_style = force_path_style
        self._timeout = timeout
        self._bucket_regions: dict[str, str] = {}

    def __repr__(self) -> str:
        where = self._endpoint_url or f"s3 {self._region}"
        return f"<S3Client {where}>"

    def bucket_region(self, bucket: str) -> str:
        """The region requests for ``bucket`` are signed for (learnt from S3's hints)."""
        return self._bucket_regions.get(bucket, self._region)

    async def get_object(
        self,
        bucket: str,
        key: str,
        *,
        timeout: Timeout | None = None,
        max_bytes: int | None = None,
    ) -> S3Object:
        """GetObject: the object's bytes (exactly as stored, never decompressed) and metadata.

        With ``max_bytes``, a larger object raises ``S3Error`` with ``error_code``
        ``"ObjectTooLarge"`` (``status_code`` is S3's 200): refused from ``Content-Length``
        before reading the body, or as soon as more bytes than that arrive.
        """
        if max_bytes is not None and (isinstance(max_bytes, bool) or max_bytes < 0):
            raise ParamValidationError("max_bytes", "must be a non-negative int or None")
        response = await self._call("GET", bucket, key, b"", None, timeout, max_bytes)
        return _object(bucket, key, response)

    async def head_object(
        self, bucket: str, key: str, *, timeout: Timeout | None = None
    ) -> S3Object | None:
        """HeadObject: the object's metadata (``body`` is ``b""``), or None when S3 says 404.

        HEAD errors have no body, so every other error carries only the status
        (``error_code="403"`` for a 403; S3 answers 403 for a missing key when the caller
        lacks ``s3:ListBucket``).
        """
        try:
            response = await self._call("HEAD", bucket, key, b"", None, timeout, None)
        except S3Error as exc:
            if exc.status_code == 404:
                return None
            raise
        return _object(bucket, key, response)

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        timeout: Timeout | None = None,
    ) -> str | None:
        """PutObject: store ``body`` (signed with its SHA-256); returns the ETag S3 gave it."""
        if not isinstance(body, bytes):
            raise ParamValidationError("body", f"must be bytes, not {type(body).__name__}")
        response = await self._call("PUT", bucket, key, body, content_type, timeout, None)
        return response.headers.get("ETag")

    async def _call(
        self,
        method: str,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str | None,
        timeout: Timeout | None,
        max_bytes: int | None,
    ) -> Response:
        """One operation: at most one region retry and one 307 follow, else the error."""
        target = self._target(bucket, key, self.bucket_region(bucket))
        region_retried = redirected = False
        while True:
            try:
                return await self._exchange_once(
                    method, bucket, key, target, body, content_type, timeout or self._timeout,
                    max_bytes,
                )  # fmt: skip
            except S3Error as error:
                if error.error_code == _TOO_LARGE:
                    raise
                hint = self._region_hint(method, target.region, error)
                if hint is not None and not region_retried:
                    region_retried = True
                    self._remember(bucket, hint)
                    logger.debug(
                        "s3://%s lives in %s (S3 said %s); retrying",
                        bucket,
                        hint,
                        error.status_code,
                    )
                    target = self._target(bucket, key, hint)
                    continue
                if error.status_code == 307 and not redirected:
                    followed = self._redirect(bucket, key, target, error.headers)
                    if followed is not None:
                        redirected = True
                        target = followed
                        continue
                raise

    def _target(self, bucket: str, key: str, region: str) -> _Target:
        url, host, path = s3_object_url(
            bucket=bucket,
            key=key,
            region=region,
            use_fips=self._use_fips,
            use_dualstack=self._use_dualstack,
            endpoint_url=self._endpoint_url,
            force_path_style=self._force_path_style,
        )
        wire = _keep_dot_segments(path)
        return _Target(url[: len(url) - len(path)] + wire, host, wire, region)

    async def _exchange_once(
        self,
        method: str,
        bucket: str,
        key: str,
        target: _Target,
        body: bytes,
        content_type: str | None,
        timeout: Timeout,
        max_bytes: int | None,
    ) -> Response:
        # Signed: host, content-type when sent, and the signer's x-amz-date,
        # x-amz-content-sha256 and token. Content-Length and the rest stay unsigned (spec §5.1,
        # §5.4). PUT always says its Content-Length: S3 answers 411 to a PUT without it.
        prepared = prepare(
            method=method,
            url=target.url,
            host=target.host,
            path=target.path,
            members=[("Content-Type", content_type)] if content_type is not None else [],
            body=body,
            region=target.region,
            service="s3",
            where=f"S3 {method} s3://{bucket}/{key}",
        )

        def error(status: int, headers: Mapping[str, str], data: bytes) -> S3Error:
            return _error(bucket, key, status, headers, data)

        response = await self._exchange.send(prepared, timeout, errors=error)
        if method == "HEAD":
            await response.aclose()
            return response
        try:
            await response.read_all(max_bytes)
        except ResponseTooLarge as exc:
            raise S3Error(
                f"the object has {_size(exc.content_length)}; max_bytes allows {exc.limit:,}",
                status_code=response.status,
                error_code=_TOO_LARGE,
                bucket=bucket,
                key=key,
                request_id=response.headers.get("x-amz-request-id"),
                headers=response.headers,
            ) from None
        logger.debug(
            "S3 %s %s%s -> %s request_id=%s",
            method,
            target.host,
            target.path,
            response.status,
            response.headers.get("x-amz-request-id"),
        )
        return response

    def _region_hint(self, method: str, region: str, error: S3Error) -> str | None:
        """The bucket's region when ``error`` says the request went to the wrong one."""
        status, code = error.status_code, error.error_code
        wrong_region = (
            status == 301
            or (status == 400 and code in _REGION_HINT_CODES)
            # A HEAD error has no body: its only tell is the header.
            or (status == 400 and method == "HEAD" and not error.body)
        )
        hint = error.bucket_region
        if not wrong_region or hint is None or hint == region:
            return None
        try:
            hint, _ = normalize_region(hint)  # the hint becomes part of a host name: a DNS label
        except ParamValidationError:
            return None
        # Credentials never cross partitions; a hint elsewhere is not ours to follow.
        if partition_for(hint).name != partition_for(region).name:
            return None
        return hint

    def _remember(self, bucket: str, region: str) -> None:
        if len(self._bucket_regions) >= _MAX_CACHED_REGIONS and bucket not in self._bucket_regions:
            self._bucket_regions.pop(next(iter(self._bucket_regions)))
        self._bucket_regions[bucket] = region

    def _redirect(
        self, bucket: str, key: str, current: _Target, headers: Mapping[str, str]
    ) -> _Target | None:
        """Where a 307 may be followed: an HTTPS AWS S3 host of our partition, same bucket."""
        location = headers.get("Location")
        if not location or self._endpoint_url is not None:
            return None
        try:
            parts = urlsplit(location)
            port = parts.port
            loc_bucket, _ = parse_s3_uri(location)
        except (ValueError, ParamValidationError):
            return None
        host = (parts.hostname or "").lower()
        partition = partition_for(current.region)
        suffixes = ("." + partition.dns_suffix, "." + partition.dualstack_dns_suffix)
        if (
            parts.scheme.lower() != "https"
            or port not in (None, 443)
            or parts.username is not None
            or loc_bucket != bucket
            or not host.endswith(suffixes)
        ):
            return None
        region = current.region
        header_region = headers.get("x-amz-bucket-region")
        candidates = [header_region] if header_region else []
        candidates += [m[1] for m in map(_REGION_LABEL_RE.fullmatch, host.split(".")) if m]
        for candidate in candidates:
            try:
                plain, _ = normalize_region(candidate)
            except ParamValidationError:
                continue
            if partition_for(plain).name == partition.name:
                region = plain
                break
        # Our own encoding of the key, never the Location's: the bytes sent are the bytes signed.
        path_style = s3_object_url(bucket=bucket, key=key, region=region, force_path_style=True)[2]
        path = path_style[len(bucket) + 1 :] if host.startswith(bucket + ".") else path_style
        path = _keep_dot_segments(path)
        logger.debug("s3://%s: following a 307 to %s", bucket, host)
        return _Target(f"https://{host}{path}", host, path, region)


def _keep_dot_segments(path: str) -> str:
    """``path`` with every ``.`` / ``..`` segment sent as ``%2E`` / ``%2E%2E``.

    httpx removes dot segments from every URL it parses (RFC 3986 §5.2.4), so the key
    ``a/./b`` would go out as ``/a/b``: another object, and not the path we signed. S3 keeps
    dots literally and decodes ``%2E`` to ``.``; the escaped form survives both engines and
    is what we sign (S3's canonical URI is the path as sent). botocore sends the dots raw.
    """
    if "." not in path:
        return path
    return "/".join(
        "%2E" * len(segment) if segment in (".", "..") else segment for segment in path.split("/")
    )


def _size(length: int | None) -> str:
    return f"{length:,} bytes" if length is not None else "more bytes"


def _object(bucket: str, key: str, response: Response) -> S3Object:
    body = response.content
    value = response.headers.get("Content-Length")
    length = int(value) if value is not None and value.isdigit() else None
    return S3Object(
        bucket=bucket,
        key=key,
        body=body,
        content_type=response.headers.get("Content-Type"),
        content_length=len(body) if length is None or body else length,
        etag=response.headers.get("ETag"),
        headers=response.headers,
    )


def _xml_fields(body: bytes) -> dict[str, str]:
    """The child elements of an S3 ``<Error>`` document as ``{tag: text}``; ``{}`` if not XML.

    A DTD is refused before parsing: S3 never sends one, and without it no entity can expand
    (the body is also capped at 64 KiB). Namespaces, if any, are dropped from the tags.
    """
    if not body.lstrip().startswith(b"<") or b"<!DOCTYPE" in body.upper():
        return {}
    import xml.etree.ElementTree as ET  # here, not at import: only error bodies need it

    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD (checked above), capped size
    except (ET.ParseError, ValueError):
        return {}
    if root.tag.rsplit("}", 1)[-1] != "Error":
        return {}
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}


def _error(bucket: str, key: str, status: int, headers: Mapping[str, str], body: bytes) -> S3Error:
    fields = _xml_fields(body)
    code = fields.get("Code") or str(status)
    message = fields.get("Message")
    if message is None:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = ""
    request_id = headers.get("x-amz-request-id") or fields.get("RequestId") or None
    region = headers.get("x-amz-bucket-region") or fields.get("Region") or None
    return S3Error(
        message,
        status_code=status,
        error_code=code,
        bucket=bucket,
        key=key,
        request_id=request_id,
        headers=headers,
        body=body,
        bucket_region=region,
    )
