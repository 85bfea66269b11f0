"""The bearer token of the OpenAI-compatible route (spec openai-compatible.md §5): minted byte
for byte as sagemaker-core 2.27.0 mints it, checked as the service checks it, cached per
(credentials identity, region) and re-minted before it expires."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from sagemaker_rt_async import BearerToken, Credentials, CredentialsError, ParamValidationError
from sagemaker_rt_async._bearer import (
    MASK,
    TokenCache,
    TokenClaims,
    canonical_request,
    check_lifetime,
    decode_token,
    mask_tokens,
    mint_token,
    verify_token,
)
from sagemaker_rt_async._sigv4 import derive_key_chain, string_to_sign

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "FQoGZXIvYXdzEXAMPLETOKEN"
FROZEN = datetime(2025, 1, 15, 12, 0, 0, tzinfo=timezone.utc)

# §5.4 A: no session token, 43,200 s.
A_CANONICAL = (
    "POST\n/\n"
    "Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE"
    "%2F20250115%2Fus-east-1%2Fsagemaker%2Faws4_request&X-Amz-Date=20250115T120000Z"
    "&X-Amz-Expires=43200&X-Amz-SignedHeaders=host\n"
    "host:sagemaker.amazonaws.com\n\nhost\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
A_STS = (
    "AWS4-HMAC-SHA256\n20250115T120000Z\n20250115/us-east-1/sagemaker/aws4_request\n"
    "00cda1b6632fde8a74e72c173abca76e9187fae5d777255174054cdcce2a85a8"
)
A_K_SIGNING = "ba21a7caf6a03b4c66687fb2f26428a0cead78488770a514a9850367e40bc247"
A_DECODED = (
    "sagemaker.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIDEXAMPLE%2F20250115%2Fus-east-1%2Fsagemaker%2Faws4_request"
    "&X-Amz-Date=20250115T120000Z&X-Amz-Expires=43200&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=cad9ef2369e8a83ffbfb42adb3c4e495c0d81953ee08c963abe76e91a4d3459a&Version=1"
)
A_TOKEN = (
    "sagemaker-api-key-c2FnZW1ha2VyLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1DYWxsV2l0aEJlYXJlclRva2VuJlgt"
    "QW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJREVYQU1QTEUlMkYyMDI1MDEx"
    "NSUyRnVzLWVhc3QtMSUyRnNhZ2VtYWtlciUyRmF3czRfcmVxdWVzdCZYLUFtei1EYXRlPTIwMjUwMTE1VDEyMDAwMFom"
    "WC1BbXotRXhwaXJlcz00MzIwMCZYLUFtei1TaWduZWRIZWFkZXJzPWhvc3QmWC1BbXotU2lnbmF0dXJlPWNhZDllZjIz"
    "NjllOGE4M2ZmYmZiNDJhZGIzYzRlNDk1YzBkODE5NTNlZTA4Yzk2M2FiZTc2ZTkxYTRkMzQ1OWEmVmVyc2lvbj0x"
)
# §5.4 B: session token, 3,600 s.
B_CANONICAL_QUERY = (
    "Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE"
    "%2F20250115%2Fus-east-1%2Fsagemaker%2Faws4_request&X-Amz-Date=20250115T120000Z"
    "&X-Amz-Expires=3600&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN&X-Amz-SignedHeaders=host"
)
B_CANONICAL_HASH = "b650925d9fa3c83b579419d20110391bb9285dbedd8a9ca148311030d19c1f50"
B_DECODED = (
    "sagemaker.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIDEXAMPLE%2F20250115%2Fus-east-1%2Fsagemaker%2Faws4_request"
    "&X-Amz-Date=20250115T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN"
    "&X-Amz-Signature=b30bb0bc94737a09fe6b60ef96c9e19f36f51e1013e28b8b372e97787f3f5fb7&Version=1"
)
B_TOKEN = (
    "sagemaker-api-key-c2FnZW1ha2VyLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1DYWxsV2l0aEJlYXJlclRva2VuJlgt"
    "QW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJREVYQU1QTEUlMkYyMDI1MDEx"
    "NSUyRnVzLWVhc3QtMSUyRnNhZ2VtYWtlciUyRmF3czRfcmVxdWVzdCZYLUFtei1EYXRlPTIwMjUwMTE1VDEyMDAwMFom"
    "WC1BbXotRXhwaXJlcz0zNjAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TZWN1cml0eS1Ub2tlbj1GUW9H"
    "WlhJdllYZHpFWEFNUExFVE9LRU4mWC1BbXotU2lnbmF0dXJlPWIzMGJiMGJjOTQ3MzdhMDlmZTZiNjBlZjk2YzllMTlm"
    "MzZmNTFlMTAxM2UyOGI4YjM3MmU5Nzc4N2YzZjVmYjcmVmVyc2lvbj0x"
)


def _mint(token: str | None, expires_in: int, now: datetime = FROZEN) -> str:
    return mint_token(
        access_key=AK,
        secret_key=SK,
        session_token=token,
        region="us-east-1",
        now=now,
        expires_in=expires_in,
    )


def test_worked_example_a_every_stage() -> None:
    """§5.4 A: canonical request, string to sign, kSigning and the 454-character token."""
    claims = decode_token(A_TOKEN)
    assert isinstance(claims, TokenClaims)
    assert canonical_request(list(claims.params)) == A_CANONICAL
    scope = "20250115/us-east-1/sagemaker/aws4_request"
    assert string_to_sign("20250115T120000Z", scope, A_CANONICAL) == A_STS
    assert derive_key_chain(SK, "20250115", "us-east-1", "sagemaker")[3].hex() == A_K_SIGNING
    token = _mint(None, 43_200)
    assert base64.b64decode(token[len("sagemaker-api-key-") :]).decode() == A_DECODED
    assert token == A_TOKEN
    assert len(token) == 454


def test_worked_example_b_session_token_after_signed_headers() -> None:
    """§5.4 B: the token sorts before X-Amz-SignedHeaders when signing, after it on the wire."""
    claims = decode_token(B_TOKEN)
    assert isinstance(claims, TokenClaims)
    creq = canonical_request(list(claims.params))
    assert creq.split("\n")[2] == B_CANONICAL_QUERY
    assert hashlib.sha256(creq.encode()).hexdigest() == B_CANONICAL_HASH
    token = _mint(SESSION, 3_600)
    assert base64.b64decode(token[len("sagemaker-api-key-") :]).decode() == B_DECODED
    assert token == B_TOKEN
    assert len(token) == 514


def test_the_clock_is_read_at_second_resolution_in_utc() -> None:
    """Any aware datetime in the same second signs the same token; naive ones are refused."""
    later = FROZEN.replace(microsecond=999_999).astimezone(timezone(timedelta(hours=5)))
    assert _mint(None, 43_200, later) == A_TOKEN
    with pytest.raises(ParamValidationError, match="now"):
        _mint(None, 43_200, datetime(2025, 1, 15, 12))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (43_200, 43_200),
        (3600.0, 3600),
        (timedelta(hours=12), 43_200),
        (timedelta(seconds=90), 90),
        (0, None),
        (-5, None),
        (43_201, None),
        (0.5, None),  # the SDK would sign X-Amz-Expires=0 here (spec §5.2)
        (1.5, None),
        (timedelta(milliseconds=500), None),
        (float("nan"), None),
        (float("inf"), None),
        (True, None),
        ("3600", None),
        (None, None),
    ],
)
def test_lifetime_is_whole_seconds_from_1_to_43200(value: object, expected: int | None) -> None:
    """Fractional, out-of-range and non-numeric lifetimes are ParamValidationError."""
    if expected is None:
        with pytest.raises(ParamValidationError, match="expires_in"):
            check_lifetime("expires_in", value)
    else:
        assert check_lifetime("expires_in", value) == expected


CREDS = Credentials(AK, SK)


@pytest.mark.parametrize(
    ("token", "creds", "region", "now", "reason"),
    [
        (A_TOKEN, CREDS, "us-east-1", FROZEN.timestamp() + 43_199, None),
        (A_TOKEN, CREDS, "us-east-1", FROZEN.timestamp() + 43_200, "expired"),
        (A_TOKEN, CREDS, "us-east-1", FROZEN.timestamp() - 3600, "future"),
        (A_TOKEN, CREDS, "eu-west-1", FROZEN.timestamp(), "region"),
        (A_TOKEN, Credentials(AK, SK + "x"), "us-east-1", FROZEN.timestamp(), "signature"),
        (A_TOKEN, Credentials("AKIDOTHER", SK), "us-east-1", FROZEN.timestamp(), "access key"),
        (B_TOKEN, CREDS, "us-east-1", FROZEN.timestamp(), "security token"),
        (B_TOKEN, Credentials(AK, SK, SESSION), "us-east-1", FROZEN.timestamp(), None),
        (A_TOKEN[:-1], CREDS, "us-east-1", FROZEN.timestamp(), "base64"),
        (A_TOKEN[len("sagemaker-api-key-") :], CREDS, "us-east-1", FROZEN.timestamp(), "start"),
        (
            "sagemaker-api-key-" + base64.b64encode(A_DECODED[:-10].encode()).decode(),
            CREDS,
            "us-east-1",
            FROZEN.timestamp(),
            "Version=1",
        ),
        (
            "sagemaker-api-key-"
            + base64.b64encode(
                A_DECODED.replace("Expires=43200", "Expires=43201").encode()
            ).decode(),
            CREDS,
            "us-east-1",
            FROZEN.timestamp(),
            "X-Amz-Expires",
        ),
        (
            "sagemaker-api-key-"
            + base64.b64encode(
                A_DECODED.replace("Expires=43200", "Expires=43100").encode()
            ).decode(),
            CREDS,
            "us-east-1",
            FROZEN.timestamp(),
            "signature",
        ),
    ],
)
def test_verify_token_refuses_what_the_service_refuses(
    token: str, creds: Credentials, region: str, now: float, reason: str | None
) -> None:
    """The fake's verifier: expiry, region, keys, session token, encoding and signature."""
    result = verify_token(token, credentials=creds, region=region, now=now)
    if reason is None:
        assert isinstance(result, TokenClaims)
    else:
        assert isinstance(result, str)
        assert reason in result


def test_mask_tokens_and_token_repr() -> None:
    """A token shows as sagemaker-api-key-*** in its repr and in masked text."""
    token = BearerToken(A_TOKEN, FROZEN)
    assert A_TOKEN[20:] not in repr(token)
    assert MASK in repr(token)
    assert str(token) == A_TOKEN  # still the value where it is sent
    text = f"Authorization: Bearer {A_TOKEN}, again {B_TOKEN}."
    assert mask_tokens(text) == f"Authorization: Bearer {MASK}, again {MASK}."


def test_cache_reuses_until_the_margin_then_re_mints() -> None:
    """Reused while more than max(60 s, 10 %) of the lifetime is left (spec §5.5)."""
    cache = TokenCache()
    t0 = FROZEN.timestamp()
    first = cache.token(CREDS, "us-east-1", 3600, now=t0)
    assert first == _mint(None, 3600)
    assert first.expires_at == FROZEN + timedelta(seconds=3600)
    assert cache.token(CREDS, "us-east-1", 3600, now=t0 + 3600 - 361) is first
    again = cache.token(CREDS, "us-east-1", 3600, now=t0 + 3600 - 359)
    assert again != first
    assert cache.minted == 2
    # A 30 s token has less than 60 s of margin from the start: minted for every use.
    short = [cache.token(CREDS, "us-east-1", 30, now=t0 + i) for i in range(3)]
    assert len(set(short)) == 3
    assert cache.token(CREDS, "us-east-1", 3600, now=t0 + 1, refresh=True) != again


def test_cache_is_per_identity_and_region() -> None:
    """New credentials (a refresh or rotation) or another region get their own token."""
    cache = TokenCache()
    t0 = FROZEN.timestamp()
    a = cache.token(CREDS, "us-east-1", 3600, now=t0)
    assert cache.token(Credentials(AK, SK, SESSION), "us-east-1", 3600, now=t0) != a
    assert cache.token(CREDS, "eu-west-1", 3600, now=t0) != a
    assert cache.token(CREDS, "us-east-1", 3600, now=t0) is a


def test_lifetime_never_outlives_the_credentials() -> None:
    """The token's X-Amz-Expires is cut to what is left of temporary credentials."""
    cache = TokenCache()
    t0 = FROZEN.timestamp()
    expiring = Credentials(AK, SK, SESSION, FROZEN + timedelta(seconds=900.7))
    token = cache.token(expiring, "us-east-1", 43_200, now=t0)
    claims = decode_token(token)
    assert isinstance(claims, TokenClaims)
    assert claims.expires_in == 900
    assert token.expires_at == FROZEN + timedelta(seconds=900)
    with pytest.raises(CredentialsError, match="less than a second"):
        cache.token(
            Credentials(AK, SK, SESSION, FROZEN + timedelta(seconds=0.5)), "us-east-1", 60, now=t0
        )


def test_differential_against_the_sagemaker_sdk() -> None:
    """Oracle: sagemaker-core's own generator (``_generate_token`` over botocore's
    SigV4QueryAuth, clock frozen) makes the same bytes for random keys, session tokens, regions,
    lifetimes and times. Skipped where sagemaker-core is not installed (it is not a dependency:
    the spec's worked examples above are the contract; run it with ``pip install
    sagemaker-core`` in the venv)."""
    import random
    from unittest import mock

    generator = pytest.importorskip("sagemaker.core.token_generator.token_generator")
    import botocore.auth
    import botocore.credentials

    rng = random.Random(14)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    for _ in range(300):
        ak = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        sk = "".join(rng.choice(alphabet) for _ in range(40))
        session = None if rng.random() < 0.3 else "".join(rng.choice(alphabet) for _ in range(99))
        region = rng.choice(["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1"])
        expires = rng.choice([1, 60, 3600, 43_200, rng.randint(1, 43_200)])
        naive = datetime(2020, 1, 1) + timedelta(seconds=rng.randint(0, 400_000_000))
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=naive):
            theirs = generator._generate_token(
                botocore.credentials.Credentials(ak, sk, session), region, expires
            )
        ours = mint_token(
            access_key=ak,
            secret_key=sk,
            session_token=session,
            region=region,
            now=naive.replace(tzinfo=timezone.utc),
            expires_in=expires,
        )
        assert ours == theirs
