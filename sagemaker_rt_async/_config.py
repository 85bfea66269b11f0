"""Arguments + environment + the shared config files -> one resolved configuration, as botocore.

``resolve_config`` is the one place where a client's settings are decided. It takes the
environment as a mapping and the two shared files as paths, so tests inject both; the client
passes ``os.environ``. The rules are botocore's (``configprovider.py``, ``session.py``,
``configloader.py``, ``args.py``), checked against botocore itself by
tests/test_config_differential.py:

* profile: argument, ``AWS_DEFAULT_PROFILE``, then ``AWS_PROFILE`` (botocore reads them in that
  order); a named profile must exist in the config or credentials file, ``default`` need not.
  Profiles of the credentials file are merged into the config file's (its values win).
* region: argument, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region``.
  botocore does not read ``AWS_REGION``; the AWS CLI v2 and the other SDKs do, and so did this
  client before: kept on purpose, and the differential test says so.
* endpoint URL: argument; unless ``ignore_configured_endpoint_urls`` (argument,
  ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``, profile key), then ``AWS_ENDPOINT_URL_<SERVICE>``,
  ``AWS_ENDPOINT_URL``, the profile's ``services`` section entry, the profile's ``endpoint_url``.
* FIPS / dual-stack: argument, ``AWS_USE_FIPS_ENDPOINT`` / ``AWS_USE_DUALSTACK_ENDPOINT``, the
  profile's ``use_fips_endpoint`` / ``use_dualstack_endpoint``; "true" in any case is true,
  anything else false. A configured (not passed) flag is dropped where an endpoint URL is set,
  as botocore drops it (``ClientConfig.variants``); passing both is refused by ``_endpoints``.
* retries: a ``retry=`` argument wins whole; else ``AWS_RETRY_MODE`` / ``retry_mode`` and
  ``AWS_MAX_ATTEMPTS`` / ``max_attempts`` (total attempts). botocore's ``legacy`` mode is
  ours ``standard`` (we have no legacy mode; both retry the same errors with backoff).
* CA bundle: ``verify=`` (a path), ``AWS_CA_BUNDLE``, the profile's ``ca_bundle``;
  ``verify=False`` turns verification off, an ``ssl.SSLContext`` is used as given.
* proxies: a ``proxies=`` argument (``{"https": URL, "http": URL}``) is used for every request
  of its scheme, as botocore's ``Config(proxies=...)``; else the environment as botocore reads
  it through urllib (``<scheme>_proxy`` in any case, lower case winning, ``HTTP_PROXY`` ignored
  under CGI) with ``NO_PROXY`` (``*``, host names and domain suffixes, with or without port)
  decided per request host, so SageMaker and S3 may go different ways. On macOS and Windows
  botocore also asks the system's proxy settings; we read the environment only.
* proxy TLS: a ``proxies_config=`` argument only, with botocore's ``Config(proxies_config=...)``
  keys. botocore registers ``proxy_ca_bundle``, ``proxy_client_cert`` and
  ``proxy_use_forwarding_for_https`` in its config store but never reads them from there when
  it builds a client (boto/botocore#2707, #2493): keys of those names in the shared config
  file, nested under ``proxies_config`` or not, change nothing, for botocore and for us
  (tests/test_config_differential.py says so). ``proxy_ca_bundle`` alone verifies an
  ``https://`` proxy, as urllib3 does with botocore's proxy context; without it the proxy is
  verified as the endpoint is (``verify=``, ``AWS_CA_BUNDLE``, ``ca_bundle``).
  ``proxy_use_forwarding_for_https=True`` is refused: neither engine can forward an HTTPS
  request through a proxy in clear; both tunnel it (CONNECT), TLS end to end.

Where an environment variable is set but empty we treat it as unset (botocore would take the
empty string as the value and then fail in a less helpful place).
"""

from __future__ import annotations

import base64
import configparser
import os
import shlex
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from ._engines.base import Proxy
from ._errors import CredentialsError, ParamValidationError
from ._retry import Retry, RetryMode

__all__ = [
    "ClientConfig",
    "ConfigFiles",
    "ProxyRule",
    "build_proxy_ssl_context",
    "build_ssl_context",
    "environ_proxies",
    "load_config_files",
    "resolve_config",
]

Service = Literal["sagemaker_runtime", "s3"]

_DEFAULT_CONFIG_FILE = "~/.aws/config"
_DEFAULT_CREDENTIALS_FILE = "~/.aws/credentials"
_RETRY_MODES: dict[str, RetryMode] = {
    "legacy": "standard",
    "standard": "standard",
    "adaptive": "adaptive",
}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """What a client resolved from its arguments, the environment and the shared config files.

    ``sources`` says where each setting came from: ``"argument"``, ``"env AWS_REGION"``,
    ``"profile 'dev' in ~/.aws/config"``, ``"services 'local' in ~/.aws/config"`` or
    ``"default"``. Never holds a secret: credentials are not part of it, and a proxy's user
    name and password are shown as ``***``.
    """

    profile: str | None
    region: str | None
    endpoint_url: str | None
    s3_endpoint_url: str | None
    use_fips: bool
    use_dualstack: bool
    retry: Retry
    ca_bundle: str | None
    ignore_configured_endpoint_urls: bool
    sources: Mapping[str, str] = field(default_factory=dict)
    verify: bool = True
    """False only for ``verify=False``: certificates are not checked."""
    proxies: Mapping[str, str] = field(default_factory=dict)
    """The proxy per URL scheme, credentials shown as ``***``."""
    no_proxy: str | None = None
    """The hosts that bypass the environment's proxies (``NO_PROXY``)."""
    proxy_rule: ProxyRule | None = field(default=None, repr=False, compare=False)
    """Decides the proxy of each request (holds the real proxy URLs; its repr hides them)."""
    proxy_ca_bundle: str | None = None
    """``proxies_config["proxy_ca_bundle"]``: the CAs that verify an ``https://`` proxy."""
    proxy_client_cert: str | tuple[str, str] | None = None
    """``proxies_config["proxy_client_cert"]``: the certificate shown to an ``https://`` proxy."""

    def source(self, name: str) -> str:
        """Where the setting ``name`` (a field of this value) came from."""
        return self.sources.get(name, "default")

    def variants(self, endpoint_url: str | None) -> tuple[bool, bool]:
        """``(use_fips, use_dualstack)`` for a service whose endpoint URL is ``endpoint_url``.

        With an endpoint URL, botocore drops configured FIPS / dual-stack flags ("SDK::Endpoint
        cannot be combined with AWS::UseFIPS"); flags passed as arguments are kept, so the
        endpoint rules refuse the combination instead of ignoring what was asked for.
        """
        if endpoint_url is None:
            return self.use_fips, self.use_dualstack
        return (
            self.use_fips and self.source("use_fips") == "argument",
            self.use_dualstack and self.source("use_dualstack") == "argument",
        )


@dataclass(frozen=True, slots=True)
class ConfigFiles:
    """The shared config and credentials files, parsed as botocore parses them.

    ``profiles`` maps a profile name to its keys (credentials-file profiles merged in);
    ``services`` maps a ``[services NAME]`` section to its nested service settings. The
    credential keys are dropped when the credentials file is merged: they are not config.
    """

    config_path: str
    credentials_path: str
    profiles: Mapping[str, Mapping[str, Any]]
    services: Mapping[str, Mapping[str, Any]]


_SECRET_KEYS = frozenset({"aws_secret_access_key", "aws_session_token", "aws_security_token"})


def _parse_ini(path: str) -> dict[str, dict[str, Any]] | None:
    """One INI file as botocore's ``raw_config_parse``; None when it does not exist."""
    expanded = os.path.expanduser(os.path.expandvars(path))
    if not os.path.isfile(expanded):
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read([expanded])
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ParamValidationError(
            "config_file", f"{path} cannot be parsed: {type(exc).__name__}"
        ) from None
    sections: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        values: dict[str, Any] = {}
        for option in parser.options(section):
            value = parser.get(section, option)
            if value.startswith("\n"):  # an indented block: one level of nested settings
                nested: dict[str, str] = {}
                for line in value.splitlines():
                    line = line.strip()
                    if not line:
                        continue
                    key, sep, item = line.partition("=")
                    if not sep:
                        raise ParamValidationError(
                            "config_file",
                            f"{path}: [{section}] {option}: a nested line has no '='",
                        )
                    nested[key.strip()] = item.strip()
                values[option] = nested
            else:
                values[option] = value
        sections[section] = values
    return sections


def _section_name(key: str) -> str | None:
    """``profile "a b"`` -> ``a b``: the second shlex word, as botocore's ``_parse_section``."""
    try:
        parts = shlex.split(key)
    except ValueError:
        return None
    return parts[1] if len(parts) == 2 else None


def load_config_files(environ: Mapping[str, str]) -> ConfigFiles:
    """Read the files ``AWS_CONFIG_FILE`` / ``AWS_SHARED_CREDENTIALS_FILE`` (or ~/.aws's).

    Blocking file I/O, done once per client at construction as boto3 does; the files are small.
    """
    config_path = environ.get("AWS_CONFIG_FILE") or _DEFAULT_CONFIG_FILE
    credentials_path = environ.get("AWS_SHARED_CREDENTIALS_FILE") or _DEFAULT_CREDENTIALS_FILE
    profiles: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    for key, values in (_parse_ini(config_path) or {}).items():
        if key.startswith("profile"):
            name = _section_name(key)
            if name is not None:
                profiles[name] = values
        elif key.startswith("services"):
            name = _section_name(key)
            if name is not None:
                services[name] = values
        elif key == "default":
            profiles[key] = values
    for name, values in (_parse_ini(credentials_path) or {}).items():
        public = {k: v for k, v in values.items() if k not in _SECRET_KEYS}
        profiles.setdefault(name, {}).update(public)
        # A profile that exists only to hold keys still exists.
    return ConfigFiles(config_path, credentials_path, profiles, services)


def environ_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """``<scheme>_proxy`` variables -> ``{scheme: url}`` (``no`` for NO_PROXY), as urllib's
    ``getproxies_environment`` reads them (botocore uses it): any case, lower case winning,
    an empty lower-case one unsetting, ``HTTP_PROXY`` ignored when ``REQUEST_METHOD`` is set."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        lower = name.lower()
        if value and lower.endswith("_proxy"):
            proxies[lower[:-6]] = value
    if "REQUEST_METHOD" in environ:  # CVE-2016-1000110: a CGI client's "Proxy:" header
        proxies.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy") and name == name.lower():
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    return proxies


def _redact(url: str) -> str:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"***@{host}").geturl()


class ProxyRule:
    """Which proxy a request URL goes through, by botocore's rules (see the module docstring).

    Called with a URL, returns a ``Proxy`` (URL without credentials, plus the
    ``Proxy-Authorization`` value when the proxy URL carries a user name and password) or None.
    Its repr shows the proxies with their credentials as ``***``.
    """

    def __init__(self, proxies: Mapping[str, str], *, no_proxy: str | None) -> None:
        self._proxies = {k: v for k, v in proxies.items() if k != "no" and v}
        self._bypass = {"no": no_proxy} if no_proxy is not None else {}
        self._targets = {
            scheme: _proxy_target(scheme, url) for scheme, url in self._proxies.items()
        }
        self.has_https_proxy = any(
            target.url.startswith("https:") for target in self._targets.values()
        )
        """Whether any request may go through an ``https://`` proxy (TLS to the proxy)."""
        self._cache: dict[tuple[str, str], Proxy | None] = {}

    def __repr__(self) -> str:
        return f"ProxyRule({self.redacted()!r}, no_proxy={self._bypass.get('no')!r})"

    def redacted(self) -> dict[str, str]:
        """The proxies by scheme, credentials shown as ``***``."""
        return {scheme: _redact(url) for scheme, url in self._proxies.items()}

    def __call__(self, url: str) -> Proxy | None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        try:
            return self._cache[key]
        except KeyError:
            pass
        target: Proxy | None = self._targets.get(parts.scheme)
        if target is not None and _bypassed(parts.netloc, self._bypass.get("no")):
            target = None
        if len(self._cache) < 1024:  # a few hosts per client; bounded all the same
            self._cache[key] = target
        return target


def _bypassed(netloc: str, no_proxy: str | None) -> bool:
    """urllib's ``proxy_bypass_environment`` (what botocore calls on Linux): ``*`` bypasses
    everything; each comma-separated name (leading dots ignored, any case) matches the host with
    or without its port, exactly or as a domain suffix. No IP ranges (CIDR), as botocore."""
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = netloc.lower()
    hostonly = host
    head, sep, port = host.rpartition(":")
    if sep and port.isdigit():  # urllib's _splitport: a trailing :digits
        hostonly = head
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (hostonly, host) or hostonly.endswith("." + name) or host.endswith("." + name):
            return True
    return False


def _proxy_target(scheme: str, url: str) -> Proxy:
    # botocore's _fix_proxy_url: no scheme means http.
    if not url.startswith(("http:", "https:")):
        url = "http:" + url if url.startswith("//") else "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ParamValidationError(
            "proxies", f"the {scheme} proxy {_redact(url)!r} is not a URL"
        ) from None
    if not parts.hostname:
        raise ParamValidationError("proxies", f"the {scheme} proxy {_redact(url)!r} has no host")
    authorization = None
    if parts.username and parts.password:  # botocore sends Basic auth only with both
        pair = f"{unquote(parts.username)}:{unquote(parts.password)}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    host = parts.netloc.rpartition("@")[2]
    return Proxy(url=f"{parts.scheme}://{host}", authorization=authorization)


def build_ssl_context(
    verify: bool | str | ssl.SSLContext | None, ca_bundle: str | None
) -> ssl.SSLContext:
    """The TLS context every engine uses: the one given, or one made from the CA bundle.

    Blocking (CA files are read): build it off the event loop. Without a CA bundle the system
    store is used, and certifi's bundle when the system has none (as botocore falls back).
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = verify if isinstance(verify, str) else ca_bundle
    if bundle is not None:
        path = os.path.expanduser(bundle)
        try:
            if os.path.isdir(path):
                return ssl.create_default_context(capath=path)
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ParamValidationError(
                "verify" if isinstance(verify, str) else "ca_bundle",
                f"cannot load the CA bundle {bundle!r}: {exc.strerror or exc}",
            ) from None
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        try:
            import certifi
        except ImportError:
            return context
        context.load_verify_locations(cafile=certifi.where())
    return context


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def _boolean(value: object) -> bool:
    # botocore's ensure_boolean: "true" in any case is true, every other string false.
    return value if isinstance(value, bool) else isinstance(value, str) and value.lower() == "true"


def resolve_config(
    *,
    environ: Mapping[str, str],
    files: ConfigFiles,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    s3_endpoint_url: str | None = None,
    use_fips: bool | None = None,
    use_dualstack: bool | None = None,
    retry: Retry | int | bool | None = None,
    verify: bool | str | ssl.SSLContext | None = None,
    proxies: Mapping[str, str] | None = None,
    proxies_config: Mapping[str, object] | None = None,
    ignore_configured_endpoint_urls: bool | None = None,
) -> ClientConfig:
    """Resolve every setting (see the module docstring for the order of each).

    Raises ``CredentialsError`` for a named profile that exists in neither file, and
    ``ParamValidationError`` for a malformed value (naming the variable or key it came from).
    """
    sources: dict[str, str] = {}

    def pick(name: str, argument: Any, env_names: tuple[str, ...], key: str | None) -> Any:
        if argument is not None:
            sources[name] = "argument"
            return argument
        for env_name in env_names:
            value = _env(environ, env_name)
            if value is not None:
                sources[name] = f"env {env_name}"
                return value
        if key is not None and key in scoped:
            sources[name] = where
            return scoped[key]
        return None

    scoped: Mapping[str, Any] = {}
    where = ""
    profile_name = pick("profile", profile, ("AWS_DEFAULT_PROFILE", "AWS_PROFILE"), None)
    if profile_name is None:
        scoped = files.profiles.get("default", {})
        where = f"profile 'default' in {files.config_path}"
    elif profile_name in files.profiles:
        scoped = files.profiles[profile_name]
        where = f"profile {profile_name!r} in {files.config_path}"
    else:
        raise CredentialsError(
            f"the profile {profile_name!r} ({sources['profile']}) was not found in "
            f"{files.config_path} or {files.credentials_path}"
        )

    region_value = pick("region", region, ("AWS_REGION", "AWS_DEFAULT_REGION"), "region")
    if region_value is not None and not isinstance(region_value, str):
        raise ParamValidationError("region", f"{sources['region']}: must be a string")

    ignore = _boolean(
        pick(
            "ignore_configured_endpoint_urls",
            ignore_configured_endpoint_urls,
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",),
            "ignore_configured_endpoint_urls",
        )
    )
    endpoint = _endpoint_url(
        "endpoint_url",
        "sagemaker_runtime",
        endpoint_url,
        ignore,
        environ,
        scoped,
        where,
        files,
        sources,
    )
    s3_endpoint = _endpoint_url(
        "s3_endpoint_url", "s3", s3_endpoint_url, ignore, environ, scoped, where, files, sources
    )

    fips = _boolean(pick("use_fips", use_fips, ("AWS_USE_FIPS_ENDPOINT",), "use_fips_endpoint"))
    dualstack = _boolean(
        pick(
            "use_dualstack",
            use_dualstack,
            ("AWS_USE_DUALSTACK_ENDPOINT",),
            "use_dualstack_endpoint",
        )
    )
    policy = _retry(retry, environ, scoped, where, sources)
    if isinstance(verify, ssl.SSLContext):
        sources["ca_bundle"] = sources["verify"] = "argument (an ssl.SSLContext)"
        bundle = None
    elif verify is False:
        sources["verify"] = "argument"
        bundle = None
    else:
        bundle = pick(
            "ca_bundle",
            verify if isinstance(verify, str) else None,
            ("AWS_CA_BUNDLE",),
            "ca_bundle",
        )
    rule, no_proxy = _proxies(proxies, environ, sources)
    proxy_ca_bundle, proxy_client_cert = _proxies_config(proxies_config, sources)
    return ClientConfig(
        profile=profile_name,
        region=region_value,
        endpoint_url=endpoint,
        s3_endpoint_url=s3_endpoint,
        use_fips=fips,
        use_dualstack=dualstack,
        retry=policy,
        ca_bundle=bundle,
        ignore_configured_endpoint_urls=ignore,
        sources=sources,
        verify=verify is not False,
        proxies=rule.redacted() if rule is not None else {},
        no_proxy=no_proxy,
        proxy_rule=rule,
        proxy_ca_bundle=proxy_ca_bundle,
        proxy_client_cert=proxy_client_cert,
    )


_PROXIES_CONFIG_KEYS = ("proxy_ca_bundle", "proxy_client_cert", "proxy_use_forwarding_for_https")


def _proxies_config(
    argument: Mapping[str, object] | None, sources: dict[str, str]
) -> tuple[str | None, str | tuple[str, str] | None]:
    """``proxies_config=`` checked: botocore's keys only, each of the type botocore uses."""
    if argument is None:
        return None, None
    if not isinstance(argument, Mapping):
        raise ParamValidationError(
            "proxies_config", 'must be a dict: {"proxy_ca_bundle": "/path/to/proxy-ca.pem"}'
        )
    unknown = sorted(str(key) for key in argument if key not in _PROXIES_CONFIG_KEYS)
    if unknown:
        raise ParamValidationError(
            "proxies_config",
            f"unknown key {unknown[0]!r} (botocore's keys: {', '.join(_PROXIES_CONFIG_KEYS)})",
        )
    sources["proxies_config"] = "argument"
    forwarding = argument.get("proxy_use_forwarding_for_https", False)
    if not isinstance(forwarding, bool):
        raise ParamValidationError(
            "proxies_config", "proxy_use_forwarding_for_https must be True or False"
        )
    if forwarding:
        raise ParamValidationError(
            "proxies_config",
            "proxy_use_forwarding_for_https=True is not supported: every HTTPS request goes "
            "through the proxy in a CONNECT tunnel, TLS end to end (leave it out, or False)",
        )
    bundle = argument.get("proxy_ca_bundle")
    if bundle is not None and (not isinstance(bundle, str) or not bundle):
        raise ParamValidationError("proxies_config", "proxy_ca_bundle must be a file path")
    cert = argument.get("proxy_client_cert")
    if isinstance(cert, list | tuple):
        if len(cert) != 2 or not all(isinstance(part, str) and part for part in cert):
            raise ParamValidationError(
                "proxies_config", "proxy_client_cert must be a path or a (cert, key) pair of paths"
            )
        cert = (cert[0], cert[1])
    elif cert is not None and (not isinstance(cert, str) or not cert):
        raise ParamValidationError(
            "proxies_config", "proxy_client_cert must be a path or a (cert, key) pair of paths"
        )
    return bundle, cert


def build_proxy_ssl_context(
    config: ClientConfig, verify: bool | str | ssl.SSLContext | None
) -> ssl.SSLContext | None:
    """The TLS context for an ``https://`` proxy itself; None: the endpoint's context serves.

    Blocking (certificate files are read): build it off the event loop. As botocore's proxy
    context: ``proxy_ca_bundle`` is the only trust for the proxy, whatever ``verify=`` says;
    ``proxy_client_cert`` is shown to the proxy and never to the endpoint. With a client
    certificate and no ``proxy_ca_bundle``, the proxy is verified as the endpoint is (botocore's
    context would then trust no CA at all, failing every handshake; aiobotocore trusts the
    endpoint's CAs, as here).
    """
    bundle, cert = config.proxy_ca_bundle, config.proxy_client_cert
    if bundle is None and cert is None:
        return None
    if bundle is not None:
        path = os.path.expanduser(bundle)
        try:
            if os.path.isdir(path):
                context = ssl.create_default_context(capath=path)
            else:
                context = ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ParamValidationError(
                "proxies_config",
                f"cannot load proxy_ca_bundle {bundle!r}: {exc.strerror or exc}",
            ) from None
    elif isinstance(verify, ssl.SSLContext):
        raise ParamValidationError(
            "proxies_config",
            "proxy_client_cert with verify= an ssl.SSLContext needs proxy_ca_bundle too "
            "(the context given cannot be copied to hold the proxy's certificate)",
        )
    else:
        context = build_ssl_context(verify, config.ca_bundle)
    if cert is not None:
        certfile, keyfile = (cert, None) if isinstance(cert, str) else cert
        try:
            context.load_cert_chain(
                os.path.expanduser(certfile), keyfile=keyfile and os.path.expanduser(keyfile)
            )
        except (OSError, ssl.SSLError) as exc:
            raise ParamValidationError(
                "proxies_config",
                f"cannot load proxy_client_cert {certfile!r}: {exc.strerror or exc}",
            ) from None
    return context


def _proxies(
    argument: Mapping[str, str] | None, environ: Mapping[str, str], sources: dict[str, str]
) -> tuple[ProxyRule | None, str | None]:
    if argument is not None:
        if not isinstance(argument, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in argument.items()
        ):
            raise ParamValidationError("proxies", 'must map a scheme to a URL: {"https": "..."}')
        sources["proxies"] = "argument"
        rule = ProxyRule(argument, no_proxy=None)  # botocore: NO_PROXY is not consulted then
        return (rule if rule.redacted() else None), None
    found = environ_proxies(environ)
    no_proxy = found.get("no")
    named = sorted(
        name for name in environ if name.lower()[:-6] in found and name.lower().endswith("_proxy")
    )
    if named:
        sources["proxies"] = ", ".join(f"env {name}" for name in named)
    rule = ProxyRule(found, no_proxy=no_proxy)
    return (rule if rule.redacted() else None), no_proxy


def _endpoint_url(
    name: str,
    service: Service,
    argument: str | None,
    ignore: bool,
    environ: Mapping[str, str],
    scoped: Mapping[str, Any],
    where: str,
    files: ConfigFiles,
    sources: dict[str, str],
) -> str | None:
    """botocore's ``ConfiguredEndpointProvider`` for one service, after the argument."""
    if argument is not None:
        sources[name] = "argument"
        return argument
    if ignore:
        return None
    for env_name in (f"AWS_ENDPOINT_URL_{service.upper()}", "AWS_ENDPOINT_URL"):
        value = _env(environ, env_name)
        if value is not None and value.strip():
            sources[name] = f"env {env_name}"
            return value.strip()
    section_name = scoped.get("services")
    if isinstance(section_name, str):
        section = files.services.get(section_name)
        if not section:
            raise ParamValidationError(
                "services",
                f"{where} uses the services section {section_name!r}, which does not exist",
            )
        entry = section.get(service)
        value = entry.get("endpoint_url") if isinstance(entry, Mapping) else None
        if value:
            sources[name] = f"services {section_name!r} in {files.config_path}"
            return str(value)
    value = scoped.get("endpoint_url")
    if isinstance(value, str) and value:
        sources[name] = where
        return value
    return None


def _retry(
    argument: Retry | int | bool | None,
    environ: Mapping[str, str],
    scoped: Mapping[str, Any],
    where: str,
    sources: dict[str, str],
) -> Retry:
    if argument is not None:
        sources["retry"] = "argument"
        return Retry.of(argument)
    found: list[str] = []

    def setting(env_name: str, key: str) -> tuple[str, str] | None:
        value = _env(environ, env_name)
        if value is not None:
            return value, f"env {env_name}"
        if key in scoped and isinstance(scoped[key], str):
            return scoped[key], f"{key} in {where}"
        return None

    mode: RetryMode = "standard"
    got_mode = setting("AWS_RETRY_MODE", "retry_mode")
    if got_mode is not None:
        text, origin = got_mode
        if text not in _RETRY_MODES:
            raise ParamValidationError(
                "retry_mode", f"{origin}: {text!r} is not one of legacy, standard, adaptive"
            )
        mode = _RETRY_MODES[text]
        found.append(origin)
    attempts = Retry().max_attempts
    got_attempts = setting("AWS_MAX_ATTEMPTS", "max_attempts")
    if got_attempts is not None:
        text, origin = got_attempts
        try:
            attempts = int(text)
        except ValueError:
            raise ParamValidationError(
                "max_attempts", f"{origin}: {text!r} is not a whole number"
            ) from None
        if attempts < 1:
            raise ParamValidationError(
                "max_attempts", f"{origin}: must be at least 1 (the total attempts)"
            )
        found.append(origin)
    if found:
        sources["retry"] = ", ".join(found)
    return Retry(mode=mode, max_attempts=attempts)
