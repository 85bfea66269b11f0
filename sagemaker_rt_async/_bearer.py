"""The ``sagemaker-api-key-…`` bearer token of the OpenAI-compatible route: mint, check, cache.

Pure (layer 0): no clock, no I/O. The caller passes the time (an aware ``datetime`` to mint,
epoch seconds to cache and check) and the credentials. The algorithm is spec
``openai-compatible.md`` §5.1, byte for byte what ``sagemaker-core``'s ``generate_token`` makes
(botocore's ``SigV4QueryAuth`` over ``POST sagemaker.amazonaws.com/?Action=CallWithBearerToken``)::

    "sagemaker-api-key-" + base64("sagemaker.amazonaws.com/?Action=CallWithBearerToken"
        "&X-Amz-Algorithm=…&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=…"
        "&X-Amz-SignedHeaders=host[&X-Amz-Security-Token=…]&X-Amz-Signature=…&Version=1")

Where we differ from the SDK on purpose (spec §9): the lifetime is whole seconds from 1 to
43,200 (the SDK truncates 0.5 s to an ``X-Amz-Expires=0`` token), and it is cut to what is left
of the credentials' own validity, so a token never claims to outlive the key that signed it.

A token is a credential: ``BearerToken`` (a ``str``) shows itself as ``sagemaker-api-key-***``
in its ``repr``, and nothing here puts a token, a secret or a signature in a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from ._errors import CredentialsError, ParamValidationError
from ._models import Credentials
from ._sigv4 import (
    ALGORITHM,
    EMPTY_SHA256,
    canonical_query,
    credential_scope,
    signing_key,
    string_to_sign,
    uri_encode,
)

__all__ = [
    "DEFAULT_LIFETIME_S",
    "MASK",
    "MAX_LIFETIME_S",
    "TOKEN_HOST",
    "TOKEN_PREFIX",
    "BearerToken",
    "TokenCache",
    "TokenClaims",
    "canonical_request",
    "check_lifetime",
    "decode_token",
    "mask_tokens",
    "mint_token",
    "verify_token",
]

TOKEN_PREFIX = "sagemaker-api-key-"  # noqa: S105 - a prefix, not a secret
TOKEN_HOST = "sagemaker.amazonaws.com"  # noqa: S105 - a host name
"""Always the control-plane host, whatever the region or partition (spec §5.1, §9.2)."""
MAX_LIFETIME_S = 43_200
DEFAULT_LIFETIME_S = 43_200
MASK = TOKEN_PREFIX + "***"
"""How a token shows itself anywhere it could be seen."""

_SERVICE = "sagemaker"
_ACTION = "CallWithBearerToken"
_VERSION_SUFFIX = "&Version=1"  # appended after signing: not part of the signature
_CANONICAL_HEADERS = f"host:{TOKEN_HOST}\n"
# Re-mint when less than this much of a token's life is left: max(60 s, 10 %) (spec §5.5).
_MIN_MARGIN_S = 60.0
_MARGIN_FRACTION = 0.1


class BearerToken(str):
    """A minted ``sagemaker-api-key-…`` token: a ``str`` (send it as ``Bearer <token>``) whose
    ``repr`` is ``sagemaker-api-key-***``; ``expires_at`` is when it stops working (UTC)."""

    expires_at: datetime
    """When the token expires: its ``X-Amz-Date`` plus its effective lifetime (aware, UTC)."""

    def __new__(cls, value: str, expires_at: datetime) -> BearerToken:
        token = super().__new__(cls, value)
        token.expires_at = expires_at
        return token

    def __repr__(self) -> str:
        return f"BearerToken({MASK!r}, expires_at={self.expires_at.isoformat()})"


def mask_tokens(text: str) -> str:
    """``text`` with every ``sagemaker-api-key-…`` token replaced by ``sagemaker-api-key-***``."""
    start = text.find(TOKEN_PREFIX)
    if start < 0:
        return text
    out: list[str] = []
    pos = 0
    while start >= 0:
        out.append(text[pos:start])
        out.append(MASK)
        end = start + len(TOKEN_PREFIX)
        while end < len(text) and (text[end].isalnum() or text[end] in "+/="):
            end += 1
        pos = end
        start = text.find(TOKEN_PREFIX, pos)
    out.append(text[pos:])
    return "".join(out)


def check_lifetime(param: str, value: object) -> int:
    """A token lifetime: whole seconds from 1 to 43,200 (an int, an integral float or a
    ``timedelta``); anything else is a ``ParamValidationError`` naming ``param``."""
    seconds: float
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    else:
        raise ParamValidationError(
            param, f"must be a number of seconds (int) or a timedelta, not {type(value).__name__}"
        )
    if not math.isfinite(seconds) or seconds != int(seconds):
        # The SDK truncates here and signs X-Amz-Expires=0 for 0.5 s (spec §5.2): we refuse.
        raise ParamValidationError(param, f"must be whole seconds, got {seconds!r}")
    if not 1 <= seconds <= MAX_LIFETIME_S:
        raise ParamValidationError(
            param, f"must be from 1 to {MAX_LIFETIME_S:,} seconds (12 hours), got {int(seconds)}"
        )
    return int(seconds)


def _amz_date(now: datetime) -> str:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ParamValidationError("now", "must be a timezone-aware datetime")
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _query(
    access_key: str, scope: str, amz_date: str, expires_in: int, session_token: str | None
) -> list[tuple[str, str]]:
    # botocore's wire order: the operation's parameter, then the auth parameters in the order
    # SigV4QueryAuth inserts them (the token after X-Amz-SignedHeaders). Only the signature
    # depends on the sorted order; this one matters for byte-equality with the SDK.
    params = [
        ("Action", _ACTION),
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_in)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token:
        params.append(("X-Amz-Security-Token", session_token))
    return params


def _signature(secret_key: str, date: str, region: str, sts: str) -> str:
    key = signing_key(secret_key, date, region, _SERVICE)
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_request(params: list[tuple[str, str]]) -> str:
    """The canonical request of the token's presigned ``POST /`` (spec §5.1 step 4)."""
    return "\n".join(
        ("POST", "/", canonical_query(params), _CANONICAL_HEADERS, "host", EMPTY_SHA256)
    )


def mint_token(
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    now: datetime,
    expires_in: int,
) -> str:
    """The bearer token for these credentials and region, signed at ``now`` (spec §5.1).

    ``expires_in`` must already be checked (:func:`check_lifetime`); one atomic snapshot of the
    credentials is the caller's job (a ``Credentials`` value is one).
    """
    if not isinstance(region, str) or not region or not region.isascii():
        raise ParamValidationError("region", "must be a non-empty ASCII region name")
    amz_date = _amz_date(now)
    date = amz_date[:8]
    scope = credential_scope(date, region, _SERVICE)
    params = _query(access_key, scope, amz_date, expires_in, session_token)
    sts = string_to_sign(amz_date, scope, canonical_request(params))
    signature = _signature(secret_key, date, region, sts)
    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in params)
    url = f"{TOKEN_HOST}/?{query}&X-Amz-Signature={signature}{_VERSION_SUFFIX}"
    return TOKEN_PREFIX + base64.b64encode(url.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class TokenClaims:
    """What a well-formed token says (no check of its signature: see :func:`verify_token`)."""

    access_key: str
    region: str
    signed_at: datetime
    expires_in: int
    session_token: str | None = field(repr=False)
    signature: str = field(repr=False)
    params: tuple[tuple[str, str], ...] = field(repr=False)
    """The signed parameters, decoded, in wire order (``X-Amz-Signature`` and ``Version`` out)."""

    @property
    def expires_at(self) -> datetime:
        """``X-Amz-Date`` plus ``X-Amz-Expires``."""
        return self.signed_at + timedelta(seconds=self.expires_in)


def decode_token(token: str) -> TokenClaims | str:
    """Parse a token as the service does (spec §10); returns its claims, or why it is malformed.

    Strict: the prefix, standard base64 with padding, the host prefix, ``&Version=1`` at the end,
    each parameter once, ``Action=CallWithBearerToken``, the algorithm, a
    ``<key>/<date>/<region>/sagemaker/aws4_request`` credential, ``X-Amz-SignedHeaders=host``
    and a lifetime from 1 to 43,200 s.
    """
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return f"the token does not start with {TOKEN_PREFIX!r}"
    try:
        url = base64.b64decode(token[len(TOKEN_PREFIX) :], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "the token is not base64 of UTF-8 text"
    head = f"{TOKEN_HOST}/?"
    if not url.startswith(head) or not url.endswith(_VERSION_SUFFIX):
        return f"the token is not a presigned {TOKEN_HOST} request ending in {_VERSION_SUFFIX}"
    pairs: list[tuple[str, str]] = []
    for item in url[len(head) : -len(_VERSION_SUFFIX)].split("&"):
        key, sep, value = item.partition("=")
        if not sep:
            return "a token parameter has no value"
        pairs.append((unquote(key), unquote(value)))
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        return "a token parameter is repeated"
    given = dict(pairs)
    if given.get("Action") != _ACTION or given.get("X-Amz-Algorithm") != ALGORITHM:
        return f"the token is not an {ALGORITHM} presigned {_ACTION} request"
    if given.get("X-Amz-SignedHeaders") != "host":
        return "the token must sign exactly the host header"
    credential = given.get("X-Amz-Credential", "").split("/")
    if len(credential) != 5 or credential[3:] != [_SERVICE, "aws4_request"]:
        return "the token's credential scope is not <key>/<date>/<region>/sagemaker/aws4_request"
    amz_date = given.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "the token's X-Amz-Date is not YYYYMMDDTHHMMSSZ"
    if credential[1] != amz_date[:8]:
        return "the token's credential date is not its X-Amz-Date's"
    expires = given.get("X-Amz-Expires", "")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_LIFETIME_S:
        return f"the token's X-Amz-Expires is not from 1 to {MAX_LIFETIME_S}"
    signature = given.get("X-Amz-Signature", "")
    if names[-1:] != ["X-Amz-Signature"] or len(signature) != 64:
        return "the token's signature is missing or malformed"
    return TokenClaims(
        access_key=credential[0],
        region=credential[2],
        signed_at=signed_at,
        expires_in=int(expires),
        session_token=given.get("X-Amz-Security-Token"),
        signature=signature,
        params=tuple(pairs[:-1]),
    )


def verify_token(
    token: str, *, credentials: Credentials, region: str, now: float
) -> TokenClaims | str:
    """Check a token as the service would (spec §5.3, §10): its claims, or why it is refused.

    Refused: malformed, another access key or session token, another region, not yet valid or
    expired at ``now`` (epoch seconds), or a signature that is not the one these credentials
    make over the same parameters (compared in constant time).
    """
    claims = decode_token(token)
    if isinstance(claims, str):
        return claims
    if claims.access_key != credentials.access_key_id:
        return "the token was signed with an unknown access key"
    if (claims.session_token or None) != credentials.session_token:
        return "the token's security token is not valid"
    if claims.region != region:
        return f"the token is scoped to region {claims.region!r}, not {region!r}"
    signed = claims.signed_at.timestamp()
    if now < signed - 300:
        return "the token is signed in the future (clock skew)"
    if now >= signed + claims.expires_in:
        return "the token has expired"
    amz_date = claims.signed_at.strftime("%Y%m%dT%H%M%SZ")
    scope = credential_scope(amz_date[:8], region, _SERVICE)
    sts = string_to_sign(amz_date, scope, canonical_request(list(claims.params)))
    expected = _signature(credentials.secret_access_key, amz_date[:8], region, sts)
    if not hmac.compare_digest(expected, claims.signature):
        return "the token's signature does not match"
    return claims


def _identity(creds: Credentials) -> str:
    # A digest, so the cache's keys hold no secret (and a rotated key or token is a new entry).
    material = "\0".join((creds.access_key_id, creds.secret_access_key, creds.session_token or ""))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class TokenCache:
    """Minted tokens per (credentials identity, region, lifetime), re-minted before expiry.

    A token is reused while more than ``max(60 s, 10 %)`` of its effective lifetime is left
    (spec §5.5); new credentials (a refresh, a rotation) are a new identity, so they get a new
    token. ``refresh=True`` re-mints whatever is cached (after a 401/403). Bounded in size.
    """

    def __init__(self, max_entries: int = 32) -> None:
        # key -> (token, when it was signed, its effective lifetime), in epoch seconds
        self._entries: OrderedDict[tuple[str, str, int], tuple[BearerToken, int, int]] = (
            OrderedDict()
        )
        self._max = max_entries
        self.minted = 0
        """How many tokens were minted (observable for tests)."""

    def token(
        self,
        creds: Credentials,
        region: str,
        expires_in: int,
        *,
        now: float,
        refresh: bool = False,
    ) -> BearerToken:
        """A token valid from ``now`` (epoch seconds) for long enough, minted if needed."""
        key = (_identity(creds), region, expires_in)
        cached = self._entries.get(key)
        if cached is not None and not refresh:
            token, signed, lifetime = cached
            margin = max(_MIN_MARGIN_S, _MARGIN_FRACTION * lifetime)
            if signed + lifetime - now > margin:
                self._entries.move_to_end(key)
                return token
        signed = math.floor(now)
        lifetime = expires_in
        if creds.expiry is not None:
            # The token dies with the credentials that signed it (spec §5.2): never claim more.
            left = math.floor(creds.expiry.timestamp() - signed)
            if left < 1:
                raise CredentialsError(
                    "the credentials expire in less than a second: no token can be minted"
                )
            lifetime = min(lifetime, left)
        at = datetime.fromtimestamp(signed, timezone.utc)
        value = mint_token(
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=region,
            now=at,
            expires_in=lifetime,
        )
        token = BearerToken(value, at + timedelta(seconds=lifetime))
        self.minted += 1
        self._entries[key] = (token, signed, lifetime)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return token
