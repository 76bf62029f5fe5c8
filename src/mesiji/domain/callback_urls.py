"""Callback URLs: which are usable, and which destinations a callback may reach.

A client names the URL its status callbacks go to, and the gateway calls it from inside the
operator's network. Left open, that makes the gateway a port scanner and a reader of internal
services (issue 8). So, by default:

- a URL must be ``http`` or ``https`` with a host, at most :data:`MAX_LENGTH` characters, no
  space, control character or backslash (CR/LF would split the request line, NUL is refused by
  PostgreSQL), no user name or password (userinfo: it would be logged and shown back with the
  URL, and ``http://public@10.0.0.1`` is a classic disguise; a receiver's token belongs in the
  query string, the signature proves the sender), and a port from 1 to 65535;
- a destination address that is not global unicast is refused: loopback, private (RFC 1918,
  RFC 4193 ULA), shared (RFC 6598, 100.64/10), link-local (169.254/16 with the cloud metadata
  endpoints, fe80::/10), unspecified, multicast and the other special-purpose ranges (RFC 6890),
  also when written as an IPv6 form that carries an IPv4 address (mapped ``::ffff:a.b.c.d``,
  compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``), unless the
  administrator allows its network (``[webhooks] allowed_networks``).

An address written in the URL is checked when the URL is accepted; a name is checked each time
it is resolved to send (:mod:`mesiji.services.callback_guard`), since DNS answers change. The URL
is parsed once, by yarl, the way aiohttp sends it (:func:`wire_url`), so the host checked is the
host connected to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from mesiji.errors import ConfigError, MesijiError

__all__ = [
    "LOOPBACK",
    "MAX_LENGTH",
    "CallbackUrlError",
    "DestinationPolicy",
    "IPAddress",
    "address_kind",
    "check_callback_url",
    "destination_refusal",
    "host_address",
    "parse_callback_url",
    "wire_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The loopback networks, for ``allowed_networks`` where callbacks stay on one machine (the
#: demo, benchmarks, tests).
LOOPBACK = ("127.0.0.0/8", "::1/128")

#: The longest callback URL accepted (what browsers and most servers take).
MAX_LENGTH = 2048

_SCHEMES = frozenset({"http", "https"})
# A DNS name in ASCII (IDN hosts arrive IDNA-encoded from yarl): labels of at most 63 letters,
# digits, hyphens or underscores (RFC 1035 §2.3.4; underscores occur in real names), at most
# 253 characters, a trailing dot allowed.
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}", re.ASCII)
# WHATWG URL: a host whose last label is a number is an IPv4 address, however written
# ("127.1", "2130706433", "0x7f.1"); only the dotted-decimal form is accepted.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*", re.ASCII)

_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# Special-purpose ranges (IANA registries, RFC 6890 and later) refused whatever the Python
# version's ``is_global`` says: it changed in 3.12.4 and 3.13.
_RESERVED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "2001::/23",  # IETF protocol assignments, Teredo
        "2001:db8::/32",
        "3fff::/20",  # documentation (RFC 9637)
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class CallbackUrlError(MesijiError):
    """A callback URL that cannot be used, or a destination that is not allowed."""


def address_kind(address: IPAddress) -> str | None:
    """None for a global unicast address; else what it is: ``"loopback"``, ``"private"``,
    ``"shared"``, ``"link-local"``, ``"unspecified"``, ``"multicast"`` or ``"reserved"``.

    An IPv6 address that carries an IPv4 one is judged by the IPv4 address it carries.
    """
    carried = _carried_ipv4(address)
    if carried is not None:
        return address_kind(carried)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address in _SHARED:
        return "shared"
    if (
        not address.is_global
        or any(address in network for network in _RESERVED)
        or (address.version == 6 and address not in _GLOBAL_UNICAST_V6)
    ):
        return "reserved"
    return None


def _carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    value = int(address)
    # IPv4-compatible (RFC 4291 §2.5.5.1, deprecated): ::a.b.c.d; :: and ::1 are themselves.
    if value >> 32 == 0 and value > 1:
        return ipaddress.IPv4Address(value)
    if address in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    return None


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which addresses callbacks may reach: every global unicast address, and ``allowed``."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> DestinationPolicy:
        """The policy allowing ``cidrs`` ("127.0.0.0/8", "::1", "10.1.0.0/16") besides the
        global addresses; :class:`ConfigError` for one that is not a network."""
        networks = []
        for cidr in cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as exc:
                raise ConfigError(f"webhooks.allowed_networks: {cidr!r} is not a network") from exc
        return cls(tuple(networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why a callback may not reach ``address``, or None when it may."""
        kind = address_kind(address)
        if kind is None:
            return None
        candidates = [address]
        carried = _carried_ipv4(address)
        if carried is not None:
            candidates.append(carried)
        for candidate in candidates:
            if any(candidate in network for network in self.allowed):
                return None
        return f"destination not allowed: {kind} address"


def wire_url(url: str) -> URL:
    """``url`` as it goes on the wire.

    A URL of printable ASCII is sent exactly as written: the GET form's signature covers its
    query string byte for byte, and yarl would otherwise normalise it (``%2C`` becomes ``,``).
    Anything else (Georgian in the path, an IDN host) is left to yarl to percent-encode.
    """
    if url.isascii() and url.isprintable() and " " not in url:
        return URL(url, encoded=True)
    return URL(url)


def parse_callback_url(url: str) -> URL:
    """``url`` parsed as it will be sent, or :class:`CallbackUrlError` saying why it is not a
    usable callback URL. The destination is not judged here (see :func:`check_callback_url`)."""
    if len(url) > MAX_LENGTH:
        raise CallbackUrlError(f"the callback URL is longer than {MAX_LENGTH} characters")
    if not url.isprintable() or " " in url or "\\" in url:
        raise CallbackUrlError(
            "the callback URL contains a space, a control character or a backslash"
        )
    try:
        parsed = wire_url(url)
        port = parsed.explicit_port
    except ValueError as exc:
        raise CallbackUrlError("the callback URL cannot be parsed") from exc
    if parsed.scheme not in _SCHEMES:
        raise CallbackUrlError("the callback URL must start with http:// or https://")
    if not parsed.raw_host:
        raise CallbackUrlError("the callback URL has no host")
    if "@" in (parsed.raw_authority or ""):
        raise CallbackUrlError(
            "the callback URL must not carry a user name or password; put a token in the query"
        )
    if port == 0:
        raise CallbackUrlError("the callback URL's port must be between 1 and 65535")
    _check_host(parsed)
    return parsed


def check_callback_url(url: str, policy: DestinationPolicy) -> URL:
    """``url`` parsed, or :class:`CallbackUrlError`: unusable, or an address ``policy``
    refuses. A name is not resolved here: it is checked when the callback is sent."""
    parsed = parse_callback_url(url)
    refusal = destination_refusal(parsed, policy)
    if refusal is not None:
        raise CallbackUrlError(refusal)
    return parsed


def destination_refusal(url: URL, policy: DestinationPolicy) -> str | None:
    """Why ``policy`` refuses the address written as ``url``'s host; None when it does not, or
    when the host is a name (names are checked as they are resolved)."""
    address = host_address(url.raw_host or "")
    return None if address is None else policy.refusal(address)


def host_address(host: str) -> IPAddress | None:
    """The IP address ``host`` (a URL's raw host) is written as, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_host(url: URL) -> None:
    host = url.raw_host or ""
    bracketed = "[" in (url.raw_authority or "")
    if bracketed or ":" in host:
        address = host_address(host)
        if not isinstance(address, ipaddress.IPv6Address) or address.scope_id:
            raise CallbackUrlError("the callback URL's host is not a valid IPv6 address")
        return
    labels = host.removesuffix(".").split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        if not isinstance(host_address(host), ipaddress.IPv4Address):
            raise CallbackUrlError(
                "the callback URL's host is not a valid IPv4 address (write a.b.c.d)"
            )
        return
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise CallbackUrlError("the callback URL's host is not a valid host name")
