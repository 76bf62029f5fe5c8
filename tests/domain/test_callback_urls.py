"""Callback URLs: what is usable, and which addresses a callback may reach."""

from __future__ import annotations

import ipaddress

import pytest

from mesiji.domain.callback_urls import (
    LOOPBACK,
    MAX_LENGTH,
    CallbackUrlError,
    DestinationPolicy,
    address_kind,
    check_callback_url,
    parse_callback_url,
)
from mesiji.errors import ConfigError

DEFAULT = DestinationPolicy()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),  # the AWS metadata service over IPv6
        ("100.64.0.1", "shared"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.1.2.3", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64
        ("fec0::1", "reserved"),  # site-local, deprecated
        ("100::1", "reserved"),  # discard-only
        # IPv6 forms carrying an IPv4 address are judged by the address they carry.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("::10.0.0.1", "private"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ],
)
def test_non_global_addresses_are_named(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_kind(ip) == kind
    assert DEFAULT.refusal(ip) == f"destination not allowed: {kind} address"


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.215.14",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_global_addresses_may_be_reached(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_kind(ip) is None
    assert DEFAULT.refusal(ip) is None


def test_allowed_networks_open_their_addresses_only() -> None:
    policy = DestinationPolicy.from_cidrs([*LOOPBACK, "10.20.0.0/16", " 192.168.7.1 "])
    for allowed in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "10.20.3.4"):
        assert policy.refusal(ipaddress.ip_address(allowed)) is None, allowed
    assert policy.refusal(ipaddress.ip_address("192.168.7.1")) is None
    assert policy.refusal(ipaddress.ip_address("192.168.7.2")) is not None
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("fe80::1")) is not None
    # Host bits in a network are forgiven: 10.1.2.3/8 means 10.0.0.0/8.
    assert DestinationPolicy.from_cidrs(["10.1.2.3/8"]).allowed == (
        ipaddress.ip_network("10.0.0.0/8"),
    )


@pytest.mark.parametrize("cidr", ["", "localhost", "10.0.0.0/33", "300.1.1.1", "::1/129"])
def test_a_network_that_is_not_one_is_a_config_error(cidr: str) -> None:
    with pytest.raises(ConfigError, match=r"webhooks\.allowed_networks"):
        DestinationPolicy.from_cidrs([cidr])


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.ge/sms/status",
        "http://shop.ge:8080/cb?token=a%2Cb%7E&x=1#frag",
        "https://SHOP.GE./cb",
        "https://api_hooks.shop.ge/cb",
        "https://ბაზარი.ge/სტატუსი?ტ=1",  # IDN host, Georgian path and query
        "http://8.8.8.8/cb",
        "http://[2606:4700::1111]:443/cb",
        "https://localhost/cb",  # a name: checked when it is resolved
        "https://h/" + "a" * (MAX_LENGTH - len("https://h/")),
    ],
)
def test_usable_urls_are_accepted(url: str) -> None:
    assert check_callback_url(url, DEFAULT).raw_host


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://shop.ge/cb\r\nX-Injected: 1", "control character"),
        ("https://shop.ge/cb\n", "control character"),
        ("https://shop.ge/c\x00b", "control character"),
        ("https://shop.ge/c\tb", "control character"),
        ("https://shop.ge/c\x7fb", "control character"),
        ("https://shop.ge/a b", "space"),
        ("https://shop.ge/a\u00a0b", "space"),
        ("https://shop.ge/a\u202eb", "control character"),  # bidi override
        ("https://shop.ge/\ud800", "control character"),  # a lone surrogate
        ("http://8.8.8.8\\@127.0.0.1/", "backslash"),
        ("https://h/" + "a" * (MAX_LENGTH - len("https://h/") + 1), "longer than 2048"),
        ("ftp://shop.ge/cb", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://shop.ge:70/", "http:// or https://"),
        ("shop.ge/cb", "http:// or https://"),
        ("", "http:// or https://"),
        ("http://", "no host"),
        ("http:///cb", "no host"),
        ("http:cb", "no host"),
        ("https://user:secret@shop.ge/cb", "user name or password"),
        ("https://8.8.8.8@127.0.0.1/cb", "user name or password"),
        ("https://@shop.ge/cb", "user name or password"),
        ("https://shop.ge:0/cb", "port"),
        ("https://shop.ge:65536/cb", "cannot be parsed"),
        ("https://shop.ge:http/cb", "cannot be parsed"),
        ("http://[::1/cb", "cannot be parsed"),
        ("http://127.1/cb", "not a valid IPv4"),
        ("http://2130706433/cb", "not a valid IPv4"),
        ("http://0x7f.0.0.1/cb", "not a valid IPv4"),
        ("http://0177.0.0.1/cb", "not a valid IPv4"),
        ("http://8.8.8.8./cb", "not a valid IPv4"),
        ("http://[fe80::1%25eth0]/cb", "not a valid IPv6"),
        ("http://[v1.shop]/cb", "not a valid IPv6"),
        ("http://shop..ge/cb", "not a valid host name"),
        ("http://shop!.ge/cb", "not a valid host name"),
        ("http://" + "a" * 64 + ".ge/cb", "not a valid host name"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, why: str) -> None:
    with pytest.raises(CallbackUrlError, match=why):
        parse_callback_url(url)
    with pytest.raises(CallbackUrlError, match=why):
        check_callback_url(url, DestinationPolicy.from_cidrs(["0.0.0.0/0", "::/0"]))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8000/cb", "loopback"),
        ("http://[::1]/cb", "loopback"),
        ("http://[::ffff:127.0.0.1]/cb", "loopback"),
        ("http://[::ffff:7f00:1]/cb", "loopback"),
        ("http://[64:ff9b::7f00:1]/cb", "loopback"),
        ("http://10.0.0.1/cb", "private"),
        ("http://[fc00::1]/cb", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/cb", "link-local"),
        ("http://0.0.0.0:22/", "unspecified"),
        ("http://100.64.1.1/", "shared"),
        ("http://224.0.0.1/", "multicast"),
    ],
)
def test_addresses_written_in_the_url_are_refused_at_once(url: str, kind: str) -> None:
    parse_callback_url(url)  # a usable URL...
    with pytest.raises(CallbackUrlError, match=f"^destination not allowed: {kind} address$"):
        check_callback_url(url, DEFAULT)  # ... to a destination that is not allowed


def test_allowed_networks_open_urls_too() -> None:
    loopback = DestinationPolicy.from_cidrs(LOOPBACK)
    for url in ("http://127.0.0.1:8000/cb", "http://[::1]/cb", "http://[::ffff:127.0.0.1]/"):
        check_callback_url(url, loopback)
    with pytest.raises(CallbackUrlError, match="private address"):
        check_callback_url("http://10.0.0.1/cb", loopback)
