"""Where signing credentials come from, and keeping them fresh without blocking the loop.

A ``CredentialResolver`` holds the current ``Credentials`` and refreshes them shortly before they
expire. All concurrent callers share one refresh (a lock, then a re-check), and a failed refresh
keeps using credentials that are still valid. The default chain delegates to aiobotocore's
session (env, shared files and profiles incl. SSO / assume-role / credential_process, web
identity, container, IMDS); it is imported on first use so ``import sagemaker_rt_async`` stays
fast. Under trio, where aiobotocore cannot run, botocore's identical chain runs in a worker thread.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeAlias

import anyio
import anyio.to_thread
import sniffio

from ._errors import CredentialsError, ParamValidationError
from ._models import Credentials

__all__ = ["CredentialResolver", "CredentialsLike", "CredentialsProvider", "resolver_for"]

logger = logging.getLogger("sagemaker_rt_async")

CredentialsProvider: TypeAlias = Callable[[], Awaitable[Credentials]]
"""Any async callable returning ``Credentials``; called again when they near expiry."""

CredentialsLike: TypeAlias = (
    "Credentials | tuple[str, str] | tuple[str, str, str | None] | CredentialsProvider | None"
)

# Refresh this long before expiry (botocore: advisory 15 min, mandatory 10 min). After the
# mandatory point a failed refresh is an error; before it, the old credentials keep working.
ADVISORY_REFRESH_S = 15 * 60
MANDATORY_REFRESH_S = 10 * 60
REFRESH_TIMEOUT_S = 60.0
# After a failed refresh inside the advisory window, wait this long before the next attempt,
# doubling up to the maximum (the mandatory point always forces an attempt).
_FIRST_BACKOFF_S = 1.0
_MAX_BACKOFF_S = 60.0
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def _check_fields(creds: Credentials) -> Credentials:
    # The values go into HTTP headers: whitespace or control characters would be refused by
    # the engine, with the value (a token, a signature) quoted in its error. Never echo them.
    for name, value in (
        ("access_key_id", creds.access_key_id),
        ("secret_access_key", creds.secret_access_key),
        ("session_token", creds.session_token),
    ):
        if value is None and name == "session_token":
            continue
        if not isinstance(value, str) or not value:
            raise ParamValidationError("credentials", f"{name} must be a non-empty str")
        if not _VISIBLE_ASCII.fullmatch(value):
            raise ParamValidationError(
                "credentials", f"{name} contains whitespace, control or non-ASCII characters"
            )
    return creds


def _coerce(value: object) -> Credentials:
    return _check_fields(_to_credentials(value))


def _to_credentials(value: object) -> Credentials:
    if isinstance(value, Credentials):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        access, secret = value[0], value[1]
        token = value[2] if len(value) == 3 else None
        if not (isinstance(access, str) and access and isinstance(secret, str) and secret):
            raise ParamValidationError(
                "credentials", "a tuple must be (access_key_id, secret_access_key[, token])"
            )
        if token is not None and not isinstance(token, str):
            raise ParamValidationError("credentials", "the session token must be a str or None")
        return Credentials(access, secret, token or None)
    raise ParamValidationError(
        "credentials",
        "expected Credentials, an (access_key_id, secret_access_key[, session_token]) tuple, "
        f"or an async callable returning Credentials; got {type(value).__name__}",
    )


class CredentialResolver:
    """Caches credentials from a provider and refreshes them once, for everyone, before expiry."""

    def __init__(
        self,
        provider: CredentialsProvider,
        *,
        description: str,
        clock: Callable[[], float] = time.time,
        refresh_timeout: float = REFRESH_TIMEOUT_S,
    ) -> None:
        self._provider = provider
        self._description = description
        self._clock = clock
        self._refresh_timeout = refresh_timeout
        self._current: Credentials | None = None
        # Refresh windows for the current credentials: botocore's 15 / 10 minutes, but at most
        # half / a quarter of their lifetime, so short-lived credentials are not refreshed on
        # every request.
        self._advisory: float = ADVISORY_REFRESH_S
        self._mandatory: float = MANDATORY_REFRESH_S
        self._lock = anyio.Lock()
        # The last attempt's failure, how many attempts ended, and when an advisory refresh may
        # be tried again (a failing provider is not called on every request).
        self._failure: CredentialsError | None = None
        self._attempts = 0
        self._retry_at = 0.0
        self._backoff = _FIRST_BACKOFF_S
        self.refresh_count = 0
        """How many times the provider was called (observable for tests and hooks)."""

    @classmethod
    def static(cls, credentials: Credentials) -> CredentialResolver:
        """A resolver that always returns the same credentials."""

        async def provide() -> Credentials:
            return credentials

        resolver = cls(provide, description="explicit credentials")
        resolver._current = credentials
        return resolver

    def _remaining(self, creds: Credentials) -> float:
        if creds.expiry is None:
            return float("inf")
        return creds.expiry.timestamp() - self._clock()

    async def get(self) -> Credentials:
        """Current credentials; refreshes (one refresh shared by all callers) when near expiry.

        As botocore does: in the advisory window (the credentials still have more than the
        mandatory margin) a refresh is attempted by one caller at a time and never waited for;
        after a failed attempt the next waits a backoff, and the current credentials are used
        meanwhile. Past the mandatory point every caller waits for the refresh; callers that
        waited on an attempt that failed share its outcome instead of each calling the provider.
        """
        creds = self._current
        if creds is not None:
            remaining = self._remaining(creds)
            if remaining > self._advisory:
                return creds
            if remaining > self._mandatory and (
                self._lock.locked() or self._clock() < self._retry_at
            ):
                return creds  # a refresh is under way, or one failed moments ago
        seen = self._attempts
        async with self._lock:
            creds = self._current
            if creds is not None and self._remaining(creds) > self._advisory:
                return creds  # another caller refreshed while we waited
            if self._attempts != seen and self._failure is not None:
                return self._keep_or_raise(creds, self._failure)  # the one we waited on failed
            try:
                try:
                    with anyio.fail_after(self._refresh_timeout):
                        fresh = _coerce(await self._provider())
                    self.refresh_count += 1
                except CredentialsError:
                    raise
                except ParamValidationError as exc:
                    raise CredentialsError(
                        f"the credentials provider returned {exc.reason}"
                    ) from exc
                except TimeoutError as exc:
                    raise CredentialsError(
                        f"resolving credentials ({self._description}) took longer than "
                        f"{self._refresh_timeout:g} s"
                    ) from exc
                except Exception as exc:  # a provider may raise anything; never leak it raw
                    raise CredentialsError(
                        f"resolving credentials ({self._description}) failed: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                lifetime = self._remaining(fresh)
                if lifetime <= 0:
                    raise CredentialsError(
                        f"the credentials from {self._description} are already expired"
                    )
            except CredentialsError as err:
                self._attempts += 1
                self._failure = err
                self._retry_at = self._clock() + self._backoff
                self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
                return self._keep_or_raise(creds, err, err.__cause__)
            self._attempts += 1
            self._failure = None
            self._retry_at = 0.0
            self._backoff = _FIRST_BACKOFF_S
            self._current = fresh
            self._advisory = min(ADVISORY_REFRESH_S, lifetime / 2)
            self._mandatory = min(MANDATORY_REFRESH_S, lifetime / 4)
            return fresh

    def _keep_or_raise(
        self, creds: Credentials | None, err: CredentialsError, cause: BaseException | None = None
    ) -> Credentials:
        if creds is not None and self._remaining(creds) > self._mandatory:
            logger.warning("credential refresh failed; using the current credentials: %s", err)
            return creds
        if cause is not None:
            raise err from cause
        raise err


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    # Abandoned on cancellation: a deadline must fire even if botocore hangs (a stuck
    # credential_process, a slow file system); the thread finishes on its own.
    return await anyio.to_thread.run_sync(func, *args, abandon_on_cancel=True)


def _from_botocore_frozen(frozen: Any, expiry: Any) -> Credentials:
    if isinstance(expiry, datetime) and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=timezone.utc)
    return Credentials(
        frozen.access_key,
        frozen.secret_key,
        frozen.token or None,
        expiry if isinstance(expiry, datetime) else None,
    )


_TRIED = (
    "environment variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), the shared files "
    "(~/.aws/credentials, ~/.aws/config: profiles, SSO, assume-role, credential_process), "
    "web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the container endpoint and EC2 instance metadata"
)


class DefaultChain:
    """The AWS default credential chain (and the profile's region), resolved lazily."""

    def __init__(self, profile: str | None) -> None:
        self.profile = profile
        self._session: Any = None
        self._creds: Any = None
        self._session_lock = anyio.Lock()

    def _make_session(self, on_asyncio: bool) -> Any:
        # Runs in a worker thread: importing botocore and reading the config files blocks.
        try:
            if on_asyncio:
                from aiobotocore.session import AioSession

                session: Any = AioSession(profile=self.profile)
            else:
                import botocore.session

                session = botocore.session.Session(profile=self.profile)
            session.get_scoped_config()  # loads and caches the config files
        except Exception as exc:
            raise CredentialsError(f"could not load AWS profile {self.profile!r}: {exc}") from exc
        return session

    async def session(self) -> Any:
        """The (aio)botocore session, created in a worker thread the first time."""
        if self._session is None:
            async with self._session_lock:  # concurrent first calls share one session
                if self._session is None:
                    on_asyncio = sniffio.current_async_library() == "asyncio"
                    self._session = await _in_thread(self._make_session, on_asyncio)
        return self._session

    async def region(self) -> str | None:
        """The region configured for the profile, if any."""
        session = await self.session()
        value = await _in_thread(session.get_config_variable, "region")
        return value if isinstance(value, str) and value else None

    async def __call__(self) -> Credentials:
        """Resolve (or refresh) credentials through the chain."""
        session = await self.session()
        where = f"profile {self.profile!r}" if self.profile else "the default chain"
        try:
            if sniffio.current_async_library() == "asyncio":
                if self._creds is None:
                    self._creds = await session.get_credentials()
                if self._creds is None:
                    raise CredentialsError(f"no AWS credentials found in {where}; tried {_TRIED}")
                frozen = await self._creds.get_frozen_credentials()
            else:
                if self._creds is None:
                    self._creds = await _in_thread(session.get_credentials)
                if self._creds is None:
                    raise CredentialsError(f"no AWS credentials found in {where}; tried {_TRIED}")
                frozen = await _in_thread(self._creds.get_frozen_credentials)
        except CredentialsError:
            raise
        except Exception as exc:
            raise CredentialsError(
                f"resolving credentials from {where} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError(f"the credentials found in {where} are incomplete")
        return _from_botocore_frozen(frozen, getattr(self._creds, "_expiry_time", None))


def resolver_for(value: object, profile: str | None) -> tuple[CredentialResolver, DefaultChain]:
    """The resolver for a ``credentials=`` argument, and the chain used for profile settings."""
    chain = DefaultChain(profile)
    if value is None:
        return CredentialResolver(chain, description="the default credential chain"), chain
    if callable(value):
        provider: CredentialsProvider = value
        return CredentialResolver(provider, description="the credentials provider"), chain
    return CredentialResolver.static(_coerce(value)), chain
