"""app/fetch.py: links are checked when submitted and at every hop, and downloads
stay inside their limits. All traffic goes to origin servers the tests start on loopback
addresses; DNS is a stub, and the address policy is injected where a test needs an "allowed"
loopback address."""

import socket
import time
from collections.abc import Callable
from ipaddress import IPv4Address, ip_address
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AfterValidator, BaseModel, ValidationError

from app.fetch import (
    MAX_REDIRECTS,
    DownloadResult,
    FetchError,
    address_allowed,
    download,
    is_public_address,
    literal_address,
    validate_link_url,
)
from tests.support.live import free_port
from tests.support.origin import Origin, origin_server, payload, tls_contexts


class StubDNS:
    """host -> addresses, recording every lookup; an unknown host fails like real DNS."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def allow_only(*addresses: str) -> Callable[[object], bool]:
    """An address policy that treats exactly these (loopback) addresses as public."""
    allowed = {ip_address(address) for address in addresses}
    return lambda ip: ip in allowed


class Received:
    """A sink that keeps the chunks, and progress calls that it records."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.progress: list[tuple[int, int | None]] = []

    def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def on_progress(self, received: int, total: int | None) -> None:
        self.progress.append((received, total))

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def fetch(url: str, received: Received | None = None, **options) -> DownloadResult:
    options = {"max_bytes": 10_000_000, "total_deadline": 30, **options}
    received = received or Received()
    return download(url, received, on_progress=received.on_progress, **options)


def fetch_error(url: str, received: Received | None = None, **options) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, received, **options)
    return caught.value


@pytest.fixture
def origin():
    with origin_server() as server:
        yield server


# --- downloads with private addresses allowed --------------------------------------------


@pytest.mark.parametrize("mode", ["length", "close", "chunked"])
def test_a_download_gives_the_exact_bytes_whatever_the_framing(origin: Origin, mode: str):
    received = Received()
    url = origin.url(f"/bytes/300000?mode={mode}")
    result = fetch(url, received, allow_private=True)
    assert received.data == payload(300_000)
    assert result == DownloadResult(url, 300_000, "video/mp4", 0)
    assert max(len(chunk) for chunk in received.chunks) <= 64 * 1024
    total = 300_000 if mode == "length" else None
    assert received.progress[0] == (0, total) and received.progress[-1] == (300_000, total)


def test_progress_rises_during_a_slow_download(origin: Origin):
    received = Received()
    fetch(origin.url("/bytes/5000?chunk=1000&delay=0.1"), received, allow_private=True)
    counts = [count for count, _ in received.progress]
    assert counts == sorted(counts) and len(set(counts)) >= 5
    assert {total for _, total in received.progress} == {5000}
    assert received.data == payload(5000)


def test_the_request_sends_no_proxy_credentials_or_compression_and_a_fixed_user_agent(
    origin: Origin,
):
    fetch(origin.url("/bytes/10"), allow_private=True)
    ((_, headers),) = origin.requests
    assert headers["Accept-Encoding"] == "identity"
    assert headers["User-Agent"].startswith("video-ai-backend/")
    assert "Authorization" not in headers and "Cookie" not in headers


def test_proxy_settings_in_the_environment_are_ignored(
    origin: Origin, monkeypatch: pytest.MonkeyPatch
):
    with origin_server() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url(""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        fetch(origin.url("/bytes/10"), allow_private=True)
    assert proxy.connections == 0
    assert origin.paths == ["/bytes/10"]


# --- the default policy: private addresses are never reached ----------------------------


def test_a_host_name_that_resolves_to_loopback_is_refused_without_a_connection(
    origin: Origin,
):
    dns = StubDNS({"media.example": ["127.0.0.1"]})
    error = fetch_error(origin.url("/bytes/10", host="media.example"), resolver=dns)
    assert error.code == "url_not_allowed"
    assert "127.0.0.1" not in error.message
    assert dns.lookups == ["media.example"]
    assert origin.connections == 0 and origin.requests == []


@pytest.mark.parametrize(
    "answer", ["10.0.0.7", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00:ec2::254"]
)
def test_a_host_name_that_resolves_to_any_private_address_is_refused(answer: str):
    dns = StubDNS({"media.example": [answer]})
    assert fetch_error("http://media.example/v.mp4", resolver=dns).code == "url_not_allowed"


def test_a_host_is_refused_when_any_one_of_its_addresses_is_not_allowed(origin: Origin):
    dns = StubDNS({"media.example": ["127.0.0.1", "127.0.0.2"]})
    error = fetch_error(
        origin.url("/bytes/10", host="media.example"),
        resolver=dns,
        is_allowed=allow_only("127.0.0.1"),
    )
    assert error.code == "url_not_allowed"
    assert origin.connections == 0


def test_a_literal_loopback_link_is_refused_without_a_lookup_or_a_connection(origin: Origin):
    dns = StubDNS({})
    assert fetch_error(origin.url("/bytes/10"), resolver=dns).code == "url_not_allowed"
    assert dns.lookups == [] and origin.connections == 0


def test_cloud_metadata_stays_refused_with_private_addresses_allowed():
    error = fetch_error("http://169.254.169.254/latest/meta-data/", allow_private=True)
    assert error.code == "url_not_allowed"
    dns = StubDNS({"metadata.google.internal": ["169.254.169.254"]})
    error = fetch_error("http://metadata.google.internal/", allow_private=True, resolver=dns)
    assert error.code == "url_not_allowed"


# --- pinning: the checked address is the one connected to --------------------------------


def test_the_checked_address_is_connected_to_with_the_real_host_name(origin: Origin):
    dns = StubDNS({"media.example": ["127.0.0.1"]})
    url = origin.url("/bytes/1000", host="media.example")
    result = fetch(url, resolver=dns, is_allowed=allow_only("127.0.0.1"))
    assert result.final_url == url and result.size == 1000
    ((_, headers),) = origin.requests
    assert headers["Host"] == f"media.example:{origin.port}"
    assert dns.lookups == ["media.example"]


def test_a_second_dns_answer_cannot_slip_in(origin: Origin):
    """DNS rebinding: the first answer (allowed) is checked, a later one points at the server
    on 127.0.0.1. Nothing listens on 127.0.0.2, so the download fails, and it never asks again."""
    answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    error = fetch_error(
        origin.url("/bytes/10", host="media.example"),
        resolver=rebinding,
        is_allowed=allow_only("127.0.0.2"),
    )
    assert error.code == "download_failed"
    assert lookups == ["media.example"]
    assert origin.connections == 0


def test_when_a_checked_address_refuses_the_next_checked_one_is_tried(origin: Origin):
    dns = StubDNS({"media.example": ["127.0.0.2", "127.0.0.1"]})  # nothing listens on .2
    url = origin.url("/bytes/10", host="media.example")
    assert fetch(url, resolver=dns, is_allowed=allow_only("127.0.0.2", "127.0.0.1")).size == 10
    assert origin.connections == 1 and dns.lookups == ["media.example"]


def test_an_interface_scoped_answer_is_refused_even_with_private_addresses_allowed():
    dns = StubDNS({"media.example": ["fe80::1%lo"]})
    error = fetch_error("http://media.example/v.mp4", resolver=dns, allow_private=True)
    assert error.code == "url_not_allowed"


def test_tls_keeps_sni_and_certificate_checks_on_the_real_host_name():
    server_tls, client_tls = tls_contexts("media.example")
    with origin_server(tls=server_tls) as origin:
        dns = StubDNS({"media.example": ["127.0.0.1"]})
        received = Received()
        url = origin.url("/bytes/2000", host="media.example")
        fetch(url, received, resolver=dns, allow_private=True, verify=client_tls)
        assert received.data == payload(2000)
        assert origin.server_names == ["media.example"]
        assert origin.requests[0][1]["Host"] == f"media.example:{origin.port}"


def test_a_certificate_for_another_name_fails_the_download():
    server_tls, client_tls = tls_contexts("other.example")
    with origin_server(tls=server_tls) as origin:
        dns = StubDNS({"media.example": ["127.0.0.1"]})
        url = origin.url("/bytes/2000", host="media.example")
        error = fetch_error(url, resolver=dns, allow_private=True, verify=client_tls)
        assert error.code == "download_failed"
        assert "media.example" in error.message
        assert origin.requests == []


# --- redirects -----------------------------------------------------------------------------


def test_five_redirects_are_followed_and_the_final_url_is_reported(origin: Origin):
    received = Received()
    result = fetch(origin.url(f"/redirect/{MAX_REDIRECTS}"), received, allow_private=True)
    assert received.data == payload(100)
    assert result.final_url == origin.url("/redirect/0")
    assert result.redirects == MAX_REDIRECTS


def test_a_sixth_redirect_is_download_failed(origin: Origin):
    error = fetch_error(origin.url(f"/redirect/{MAX_REDIRECTS + 1}"), allow_private=True)
    assert error.code == "download_failed"
    assert "redirects" in error.message
    assert len(origin.requests) == MAX_REDIRECTS + 1


def test_a_redirect_from_an_allowed_source_to_a_private_host_is_refused_at_that_hop(
    origin: Origin,
):
    with origin_server("127.0.0.2") as internal:
        dns = StubDNS({"media.example": ["127.0.0.1"], "internal.example": ["127.0.0.2"]})
        target = internal.url("/bytes/10", host="internal.example")
        error = fetch_error(
            origin.url(f"/to?url={target}", host="media.example"),
            resolver=dns,
            is_allowed=allow_only("127.0.0.1"),
        )
        assert error.code == "url_not_allowed"
        assert error.message.startswith("Redirect 1 ")
        assert dns.lookups == ["media.example", "internal.example"]
        assert internal.connections == 0
        assert len(origin.requests) == 1


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/bytes/10",
        "http://[::1]:{port}/bytes/10",
        "http://0x7f.2:{port}/bytes/10",
        "http://2130706434:{port}/bytes/10",
        "http://localhost:{port}/bytes/10",
        "http://169.254.169.254/latest/meta-data/",
        "http://user:secret@media.example:{port}/bytes/10",
        "file:///etc/passwd",
        "gopher://media.example:{port}/",
    ],
)
def test_a_redirect_to_a_url_that_is_never_allowed_is_refused(origin: Origin, target: str):
    """The source, media.example on 127.0.0.1, counts as public here; nothing else does."""
    dns = StubDNS({"media.example": ["127.0.0.1"]})
    target = target.format(port=origin.port)
    error = fetch_error(
        origin.url(f"/to?url={target}", host="media.example"),
        resolver=dns,
        is_allowed=allow_only("127.0.0.1"),
    )
    assert error.code == "url_not_allowed"
    assert origin.paths == [f"/to?url={target}"]


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 500, 304])
def test_an_http_error_status_is_download_failed(origin: Origin, status: int):
    error = fetch_error(origin.url(f"/status/{status}"), allow_private=True)
    assert (error.code, error.message) == ("download_failed", f"The server answered HTTP {status}")


def test_a_refused_connection_is_download_failed():
    error = fetch_error(f"http://127.0.0.1:{free_port()}/v.mp4", allow_private=True)
    assert (error.code, error.message) == ("download_failed", "Could not connect to the server")


def test_a_host_that_does_not_resolve_is_download_failed():
    error = fetch_error("http://nowhere.example/v.mp4", resolver=StubDNS({}))
    assert error.code == "download_failed"
    assert "nowhere.example" in error.message


def test_a_body_cut_short_of_its_content_length_is_download_failed(origin: Origin):
    error = fetch_error(origin.url("/bytes/100000?mode=short"), allow_private=True)
    assert error.code == "download_failed"


def test_a_server_that_stalls_past_the_deadline_is_download_failed_on_time(origin: Origin):
    started = time.monotonic()
    error = fetch_error(origin.url("/stall"), allow_private=True, total_deadline=1)
    assert (error.code, error.message) == ("download_failed", "The download took longer than 1 s")
    assert 0.9 < time.monotonic() - started < 5  # not the 30 s read timeout


def test_a_server_that_stalls_past_the_read_timeout_is_download_failed(origin: Origin):
    started = time.monotonic()
    error = fetch_error(origin.url("/stall"), allow_private=True, read_timeout=0.5)
    assert (error.code, error.message) == ("download_failed", "Timed out waiting for data")
    assert time.monotonic() - started < 4


def test_a_server_that_accepts_but_never_answers_is_download_failed():
    with socket.socket() as listener:  # the kernel completes the handshake; nobody reads
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v.mp4"
        error = fetch_error(url, allow_private=True, read_timeout=0.5)
    assert error.message == "Timed out waiting for the server's answer"


def test_a_trickling_body_is_stopped_at_the_deadline(origin: Origin):
    """Each chunk comes well within the read timeout; only the total deadline stops it."""
    started = time.monotonic()
    url = origin.url("/bytes/100000?chunk=100&delay=0.05")
    error = fetch_error(url, allow_private=True, total_deadline=1)
    assert error.code == "download_failed"
    assert "longer than 1 s" in error.message
    assert time.monotonic() - started < 4


# --- the byte cap ----------------------------------------------------------------------------


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(origin: Origin):
    received = Received()
    error = fetch_error(origin.url("/bytes/1001"), received=received, allow_private=True,
                        max_bytes=1000)  # fmt: skip
    assert error.code == "file_too_large"
    assert error.message == "The file is larger than the limit of 1000 bytes"
    assert received.chunks == [] and received.progress == []


@pytest.mark.parametrize("mode", ["close", "chunked", "lying"])
def test_a_body_over_the_cap_is_refused_whatever_its_headers_say(origin: Origin, mode: str):
    received = Received()
    with pytest.raises(FetchError) as caught:
        fetch(origin.url(f"/bytes/300000?mode={mode}"), received, allow_private=True,
              max_bytes=100_000)  # fmt: skip
    assert caught.value.code == "file_too_large"
    assert caught.value.message == "The file is larger than the limit of 97.7 KiB (100000 bytes)"
    assert len(received.data) <= 100_000
    assert received.data == payload(len(received.data))


def test_a_body_of_exactly_the_cap_is_accepted(origin: Origin):
    for mode in ("length", "chunked"):
        assert fetch(origin.url(f"/bytes/1000?mode={mode}"), allow_private=True,
                     max_bytes=1000).size == 1000  # fmt: skip


# --- the caller aborts -------------------------------------------------------------------------


class Canceled(Exception):
    pass


def test_a_sink_that_raises_aborts_the_download_and_its_exception_propagates(origin: Origin):
    received: list[bytes] = []

    def sink(chunk: bytes) -> None:
        received.append(chunk)
        if len(received) == 2:
            raise Canceled

    url = origin.url("/bytes/10000000?chunk=65536&delay=0.02")
    with pytest.raises(Canceled):
        download(url, sink, max_bytes=10**8, allow_private=True)
    assert len(received) == 2
    assert origin.aborted.wait(5), "the server kept sending after the sink raised"


def test_on_progress_that_raises_aborts_the_download_too(origin: Origin):
    def on_progress(received: int, total: int | None) -> None:
        if received > 0:
            raise Canceled

    url = origin.url("/bytes/10000000?chunk=65536&delay=0.02")
    with pytest.raises(Canceled):
        download(url, lambda chunk: None, max_bytes=10**8, allow_private=True,
                 on_progress=on_progress)  # fmt: skip
    assert origin.aborted.wait(5)


# --- the request-time check ------------------------------------------------------------------

NEVER_ALLOWED = [
    "http://127.0.0.1/v.mp4",
    "http://127.8.9.10/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.0.192/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    "http://2130706433/",  # decimal 127.0.0.1
    "http://017700000001/",  # octal
    "http://0x7f000001/",  # hex
    "http://0x7f.1/",
    "http://0x7F.0.0.1/",
    "http://0177.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://127.0.0.1./",
    "http://0xa9fea9fe/",  # 169.254.169.254
    "http://3232235777/",  # 192.168.1.1
    "http://[::1]/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]/",  # NAT64
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b:1::1]/",
    "http://[2002:7f00:1::]/",  # 6to4
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    "http://localhost/",
    "http://LOCALHOST:8000/",
    "http://localhost./",
    "http://media.localhost/",
]


@pytest.mark.parametrize("url", NEVER_ALLOWED)
def test_literal_hosts_that_are_never_allowed_are_refused(url: str):
    with pytest.raises(ValueError, match="not allowed"):
        validate_link_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/v.mp4", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/v.mp4", "http:// or https://"),
        ("http://user:pw@example.com/v.mp4", "user name or password"),
        ("http://user@example.com/v.mp4", "user name or password"),
        ("http://@example.com/v.mp4", "user name or password"),
        ("http:///v.mp4", "host"),
        ("http://example.com:99999/", "port"),
        ("http://example.com/" + "a" * 2030, "2048"),
        ("http://exa mple.com/", "spaces"),
        (" http://example.com/", "spaces"),
        ("http://example.com/\nx", "control"),
        ("http://evil.example\\@127.0.0.1/", "backslashes"),
        ("http://0177.0.0.1/", "not valid"),
        ("http://256.0.0.1/", "not valid"),
        ("http://256.1/", "neither a name nor an IP address"),
        ("http://1.09/", "neither a name nor an IP address"),
        ("http://media.example.1/", "neither a name nor an IP address"),
        ("http://１２７.０.０.１/", "not valid"),
    ],
)
def test_links_that_are_not_plain_http_urls_are_refused_with_the_reason(url: str, reason: str):
    with pytest.raises(ValueError, match=reason):
        validate_link_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v.mp4",
        "https://media.example.org:8443/a/b.mp4?x=1#t",
        "HTTPS://Example.COM/v.mp4",
        "http://8.8.8.8/v.mp4",
        "http://134744072/v.mp4",  # 8.8.8.8 in decimal: odd, but public
        "http://[2606:4700:4700::1111]/v.mp4",
        "http://[::ffff:8.8.8.8]/v.mp4",
        "http://例え.jp/v.mp4",
        "http://example.com/" + "a" * 2029,  # 2048 characters
    ],
)
def test_public_links_are_accepted_unchanged(url: str):
    assert validate_link_url(url) == url


def test_with_private_addresses_allowed_only_metadata_multicast_and_unspecified_stay_refused():
    for url in ("http://127.0.0.1:8000/v.mp4", "http://10.0.0.1/", "http://[::1]/",
                "http://localhost/", "http://0x7f.1/", "http://[fd12::1]/"):  # fmt: skip
        assert validate_link_url(url, allow_private=True) == url
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://0.0.0.0/",
                "http://[::ffff:a9fe:a9fe]/", "http://224.0.0.1/", "http://[::]/"):  # fmt: skip
        with pytest.raises(ValueError, match="not allowed"):
            validate_link_url(url, allow_private=True)


def test_validate_link_url_works_as_a_pydantic_validator():
    class Link(BaseModel):
        url: Annotated[str, AfterValidator(validate_link_url)]

    assert Link(url="https://example.com/v.mp4").url == "https://example.com/v.mp4"
    with pytest.raises(ValidationError) as caught:
        Link(url="http://0x7f.1/")
    (error,) = caught.value.errors()
    assert error["type"] == "value_error" and "not allowed" in error["msg"]


# --- the address policy ----------------------------------------------------------------------

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450::1"]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_public(address: str):
    assert is_public_address(address) and is_public_address(ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "168.63.129.16",  # Azure's wire server: a public address, but a metadata endpoint
        "100.100.100.200",  # Alibaba metadata
        "not an address",
        "::ffff:10.0.0.1",
        "2002:a00:1::",
        "100::1",
        "5f00::1",
        "3fff::1",
        "fec0::1",
        "2001:20::1",
    ],
)
def test_these_are_not_public(address: str):
    assert not is_public_address(address)


@given(st.integers(0, 2**32 - 1))
def test_every_ipv4_form_inside_ipv6_gets_the_answer_of_the_ipv4_address(value: int):
    ipv4 = IPv4Address(value)
    expected = is_public_address(ipv4)
    for wrapped in (
        f"::ffff:{ipv4}",
        f"64:ff9b::{ipv4}",
        f"2002:{value >> 16:x}:{value & 0xFFFF:x}::",
    ):
        assert is_public_address(wrapped) == expected
    assert address_allowed(ip_address(f"::ffff:{ipv4}"), allow_private=True) == address_allowed(
        ipv4, allow_private=True
    )


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.lists(st.sampled_from(["{:d}", "0{:o}", "0x{:x}", "0X{:X}"]), min_size=4, max_size=4),
)
def test_numeric_host_spellings_mean_what_the_c_library_reads(value: int, parts: int, forms):
    """inet_aton (what getaddrinfo uses for a numeric host) is the reference for every
    spelling: 1 to 4 parts, each decimal, octal or hex, the last one filling the rest."""
    widths = [1] * (parts - 1) + [5 - parts]
    numbers, remaining = [], value
    for width in reversed(widths):
        numbers.insert(0, remaining % 256**width)
        remaining //= 256**width
    host = ".".join(form.format(n) for form, n in zip(forms, numbers, strict=False))
    assert literal_address(host) == IPv4Address(socket.inet_aton(host))
