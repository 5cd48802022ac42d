"""Outbound requests: the one module every request the product sends out goes through
(link downloads, and webhook deliveries with `post`).

A user's link must not become a door into our network (server-side request forgery, OWASP's
SSRF cheat sheet). So a link is checked when it is submitted (`validate_link_url`) and again at
every hop of the download (`download`): http(s) only, no userinfo, and every address the host
stands for must be public (`is_public_address`). The download then connects to the address that
was checked, never to a second DNS answer, keeping the `Host` header and TLS (SNI and certificate
verification) on the real name. The only module that knows httpx.
"""

import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal

import httpx

from app.config import readable_size

IPAddress = IPv4Address | IPv6Address
FetchErrorCode = Literal["url_not_allowed", "download_failed", "file_too_large"]
Resolver = Callable[[str, int], list[str]]  # (host, port) -> the addresses, as strings
AddressPolicy = Callable[[IPAddress], bool]  # may a connection go to this address?

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 5
USER_AGENT = "video-ai-backend/1 (link ingest)"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

# Never reachable from a link, not even with private addresses allowed: the cloud instance
# metadata and control-plane endpoints (AWS, ECS, GCP, Azure, Alibaba, Oracle) hand out credentials.
CLOUD_METADATA = {
    ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.253",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
}
# IANA's special-purpose ranges, spelled out so the answer does not depend on the Python patch
# release (3.11.7's is_global calls 64:ff9b:1::/48 and 192.0.0.0/24 global, for instance).
NOT_PUBLIC_V4 = [
    IPv4Network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
]  # fmt: skip
NOT_PUBLIC_V6 = [
    IPv6Network(network)
    for network in (
        "::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
NAT64 = IPv6Network("64:ff9b::/96")


class FetchError(Exception):
    """A download that did not happen; `code` is one of the contract's error codes."""

    def __init__(self, code: FetchErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DownloadResult:
    final_url: str  # after redirects
    size: int  # bytes received and given to the sink
    content_type: str | None  # as the server declared it; sniff the bytes before trusting it
    redirects: int


@dataclass(frozen=True)
class Post:
    """A request body to send (a webhook delivery) and its headers."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class PostAnswer:
    status_code: int
    text: str  # the start of the answer's body, for people


def _embedded_ipv4(ip: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public_address(address: IPAddress | str) -> bool:
    """True only for a globally routable unicast address that is no cloud metadata endpoint."""
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    if embedded := _embedded_ipv4(ip):
        return is_public_address(embedded)
    if ip in CLOUD_METADATA or (ip.version == 6 and ip.scope_id is not None):
        return False
    if ip.version == 6 and (ip not in GLOBAL_UNICAST_V6 or any(ip in n for n in NOT_PUBLIC_V6)):
        return False
    if ip.version == 4 and any(ip in network for network in NOT_PUBLIC_V4):
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
    )


def address_allowed(ip: IPAddress, *, allow_private: bool = False) -> bool:
    """The product's policy. `allow_private` (LINK_ALLOW_PRIVATE) opens loopback and private
    networks, never the cloud metadata endpoints, multicast or the unspecified address."""
    if not allow_private:
        return is_public_address(ip)
    if getattr(ip, "scope_id", None) is not None:
        return False  # an interface-scoped address: nothing a link should name
    ip = _embedded_ipv4(ip) or ip
    return not (ip in CLOUD_METADATA or ip.is_multicast or ip.is_unspecified)


_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def literal_address(host: str) -> IPAddress | None:
    """The address a host spells, in any form the C library (inet_aton) accepts: `127.1`,
    `2130706433`, `0x7f.1`, `0177.0.0.1`; None for a name. ValueError for a host that ends in a
    number without being an address (`256.0.0.1`, `1.09`): no public name looks like that."""
    if ":" in host:
        return ip_address(host)
    labels = host.removesuffix(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        raise ValueError(f"URL host {host!r} is neither a name nor an IP address")
    numbers = [_ipv4_part(label) for label in labels]
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"URL host {host!r} is neither a name nor an IP address")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _ipv4_part(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    return int(label, 8 if len(label) > 1 and label.startswith("0") else 10)


def _is_localhost(host: str) -> bool:
    host = host.removesuffix(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def _check_url(
    url: str, is_allowed: AddressPolicy, allow_private: bool
) -> tuple[httpx.URL, IPAddress | None]:
    """The parsed URL and its literal address, if any; ValueError saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL must be at most {MAX_URL_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() or char == "\\" for char in url):
        raise ValueError("URL must not contain spaces, control characters or backslashes")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"URL is not valid: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError("URL must start with http:// or https://")
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    if parsed.userinfo or "@" in authority:
        raise ValueError("URL must not contain a user name or password")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise ValueError("URL must name a host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError("URL has an invalid port")
    literal = literal_address(host)
    if literal is not None and not is_allowed(literal):
        raise ValueError(
            "URL points to an address that is not allowed "
            "(loopback, private, link-local, reserved or cloud metadata)"
        )
    if literal is None and _is_localhost(host) and not allow_private:
        raise ValueError("URL points to localhost, which is not allowed")
    return parsed, literal


def validate_link_url(url: str, allow_private: bool = False) -> str:
    """The request-time check of a link (a pydantic AfterValidator): raises ValueError."""
    _check_url(url, lambda ip: address_allowed(ip, allow_private=allow_private), allow_private)
    return url


def validate_endpoint_url(
    url: str, allow_private: bool = False, resolver: Resolver | None = None
) -> str:
    """A webhook endpoint's check when it is registered: `validate_link_url`, and every address
    its name resolves to now must be allowed too (each delivery checks again): ValueError."""
    allowed = lambda ip: address_allowed(ip, allow_private=allow_private)  # noqa: E731
    parsed, literal = _check_url(url, allowed, allow_private)
    try:
        _addresses(parsed, literal, resolver or resolve_host, allowed, 0)
    except FetchError as error:
        raise ValueError(error.message) from None
    return url


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _addresses(
    url: httpx.URL,
    literal: IPAddress | None,
    resolver: Resolver,
    is_allowed: AddressPolicy,
    hop: int,
) -> list[IPAddress]:
    """The checked addresses to connect to: refused if any of them is not allowed."""
    if literal is not None:
        return [literal]
    host = url.raw_host.decode("ascii")
    try:
        answers = [ip_address(answer) for answer in resolver(host, url.port or _default_port(url))]
    except (OSError, UnicodeError, ValueError):
        raise FetchError("download_failed", f"Could not resolve the host {host}") from None
    if not answers:
        raise FetchError("download_failed", f"Could not resolve the host {host}")
    if not all(is_allowed(answer) for answer in answers):
        where = "The URL's host" if hop == 0 else f"Redirect {hop} leads to a host that"
        raise FetchError("url_not_allowed", f"{where} resolves to an address that is not public")
    return answers


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _remaining(deadline: float, total_deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("download_failed", f"The download took longer than {total_deadline:g} s")
    return left


def _timed_out(waiting_for: str, deadline: float, total_deadline: float) -> FetchError:
    """A timeout's error: the total deadline's when the timeout was cut short to meet it."""
    if time.monotonic() > deadline - 0.05:
        return FetchError("download_failed", f"The download took longer than {total_deadline:g} s")
    return FetchError("download_failed", f"Timed out waiting for {waiting_for}")


def download(
    url: str,
    sink: Callable[[bytes], object],
    *,
    max_bytes: int,
    allow_private: bool = False,
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
    total_deadline: float = 3600.0,
    on_progress: Callable[[int, int | None], object] | None = None,
    resolver: Resolver | None = None,
    is_allowed: AddressPolicy | None = None,
    verify: ssl.SSLContext | None = None,
) -> DownloadResult:
    """GET `url` (following at most 5 checked redirects) and stream its body to `sink`.

    `sink(chunk)` and `on_progress(received, total_or_None)` may raise to abort: the connection
    is closed and their exception propagates unchanged. Everything else fails as FetchError.
    `resolver` replaces DNS and `is_allowed` the address policy (both for tests); `verify` is an
    SSL context for a private certificate authority (default: certifi's roots).
    """
    deadline = time.monotonic() + total_deadline
    resolve = resolver or resolve_host
    allowed = is_allowed or (lambda ip: address_allowed(ip, allow_private=allow_private))
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            parsed, literal = _check_url(current, allowed, allow_private)
        except ValueError as exc:
            prefix = "The link" if hop == 0 else f"Redirect {hop} is not allowed"
            raise FetchError("url_not_allowed", f"{prefix}: {exc}") from None
        addresses = _addresses(parsed, literal, resolve, allowed, hop)
        response, client = _connect(parsed, addresses, verify, connect_timeout, read_timeout,
                                    deadline, total_deadline)  # fmt: skip
        try:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                try:
                    current = str(parsed.join(response.headers["location"]))
                except httpx.InvalidURL:
                    raise FetchError("url_not_allowed", "A redirect is not a valid URL") from None
                continue
            if not 200 <= response.status_code < 300:
                message = f"The server answered HTTP {response.status_code}"
                raise FetchError("download_failed", message)
            size = _stream_body(response, sink, max_bytes, on_progress, deadline, total_deadline)
            return DownloadResult(str(parsed), size, response.headers.get("content-type"), hop)
        finally:
            response.close()
            client.close()
    raise FetchError("download_failed", f"Too many redirects (more than {MAX_REDIRECTS})")


def _connect(
    url: httpx.URL,
    addresses: list[IPAddress],
    verify: ssl.SSLContext | None,
    connect_timeout: float,
    read_timeout: float,
    deadline: float,
    total_deadline: float,
    post: Post | None = None,
) -> tuple[httpx.Response, httpx.Client]:
    """The answer of the first checked address that accepts a connection, and its client."""
    host = url.raw_host.decode("ascii")
    failure = "Could not connect to the server"
    for address in addresses:
        left = _remaining(deadline, total_deadline)
        timeout = httpx.Timeout(min(read_timeout, left), connect=min(connect_timeout, left))
        # One client (and connection) per hop: no pooled connection verified for one name is
        # ever reused for another, no cookies carry over, and trust_env=False ignores the
        # environment's proxies, .netrc and certificate settings.
        client = httpx.Client(trust_env=False, verify=verify or True, timeout=timeout)
        try:
            return client.send(_pinned_request(client, url, address, post), stream=True), client
        except httpx.ConnectTimeout:
            failure = _timed_out("the connection", deadline, total_deadline).message
        except httpx.ConnectError as exc:
            if tls_error := _tls_error(exc):
                failure = f"TLS with {host} failed: {tls_error}"
        except httpx.TimeoutException:
            client.close()
            raise _timed_out("the server's answer", deadline, total_deadline) from None
        except httpx.HTTPError:
            client.close()
            raise FetchError("download_failed", "The server's answer was not valid HTTP") from None
        client.close()
    raise FetchError("download_failed", failure)


def _pinned_request(
    client: httpx.Client, url: httpx.URL, address: IPAddress, post: Post | None = None
) -> httpx.Request:
    """A GET (or the POST) of `url` sent to `address`: the connection goes there and nowhere
    else, while the `Host` header and TLS (SNI, so the certificate check) keep the host name."""
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # the bytes counted are the bytes stored
    }
    return client.build_request(
        "POST" if post else "GET",
        url.copy_with(host=str(address)),
        headers=headers | post.headers if post else headers,
        content=post.body if post else None,
        extensions={"sni_hostname": url.raw_host.decode("ascii")},
    )


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool = False,
    max_answer_bytes: int = 1024,
    resolver: Resolver | None = None,
    is_allowed: AddressPolicy | None = None,
    verify: ssl.SSLContext | None = None,
) -> PostAnswer:
    """POST `body` to `url` with the same checks as a download: http(s), every address the
    name resolves to allowed (checked now, so a DNS answer that changed to a private address is
    refused), the connection pinned to a checked address. Redirects are not followed (the
    answer is the 3xx), and at most `max_answer_bytes` of the answer are read. The answer, or
    FetchError (`url_not_allowed`, or `download_failed` for no connection or no answer)."""
    deadline = time.monotonic() + timeout
    allowed = is_allowed or (lambda ip: address_allowed(ip, allow_private=allow_private))
    try:
        parsed, literal = _check_url(url, allowed, allow_private)
    except ValueError as exc:
        raise FetchError("url_not_allowed", f"The URL: {exc}") from None
    addresses = _addresses(parsed, literal, resolver or resolve_host, allowed, 0)
    try:
        response, client = _connect(parsed, addresses, verify, timeout, timeout, deadline,
                                    timeout, Post(body, headers))  # fmt: skip
    except FetchError as error:
        if "took longer" in error.message:
            raise FetchError(error.code, f"No answer within {timeout:g} s") from None
        raise
    try:
        start = b""
        for chunk in response.iter_raw():
            start += chunk
            if len(start) >= max_answer_bytes or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass  # the status is the answer; its body is only a hint
    finally:
        response.close()
        client.close()
    text = start[:max_answer_bytes].decode("utf-8", "replace")
    return PostAnswer(response.status_code, text)


def _tls_error(exc: BaseException) -> str | None:
    """The reason of the ssl error behind a connection failure (a bad certificate), if any."""
    while exc is not None:
        if isinstance(exc, ssl.SSLError):
            return getattr(exc, "verify_message", None) or exc.reason or str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def _stream_body(
    response: httpx.Response,
    sink: Callable[[bytes], object],
    max_bytes: int,
    on_progress: Callable[[int, int | None], object] | None,
    deadline: float,
    total_deadline: float,
) -> int:
    """Hand the body to `sink` chunk by chunk; never more than `max_bytes` of it."""
    declared = response.headers.get("content-length", "")
    chunked = "transfer-encoding" in response.headers  # overrides a Content-Length
    total = int(declared) if declared.isdigit() and not chunked else None
    too_large = f"The file is larger than the limit of {readable_size(max_bytes)}"
    if total is not None and total > max_bytes:
        raise FetchError("file_too_large", too_large)  # before reading a byte of it
    received = 0
    if on_progress:
        on_progress(0, total)
    chunks = response.iter_raw()  # each piece as it arrives (httpcore reads up to 64 KiB)
    while True:
        try:
            chunk = next(chunks, None)
        except httpx.TimeoutException:
            raise _timed_out("data", deadline, total_deadline) from None
        except httpx.HTTPError:
            raise FetchError("download_failed", "The connection broke off mid-download") from None
        if chunk is None:
            return received
        received += len(chunk)
        if received > max_bytes:
            raise FetchError("file_too_large", too_large)
        sink(chunk)
        if on_progress:
            on_progress(received, total)
        _remaining(deadline, total_deadline)
