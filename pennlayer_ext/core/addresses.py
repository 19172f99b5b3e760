"""Which hosts an http(s) loader may reach: public addresses, plus what the operator allows.

A loader downloads from inside the node's network, so a URL naming the node itself
(loopback), the cloud's metadata service (link-local 169.254.169.254), a private network
or any other non-public address would let a user read what only the node can reach. Such
a host is refused unless ``PennLayerApp.allowed_source_hosts`` names it (a host name, an
IP address or a CIDR network).

A literal address in a URL is checked when the request arrives (``literal_refusal``). A
host name is checked in the worker, after resolving it, at every connection (the first
and every redirect): every address it resolves to must be allowed, and the connection
goes to one of exactly those addresses (``connect``), so a second, different answer of
the name's DNS server is never used.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidInput

SETTING = "PennLayerApp.allowed_source_hosts"
ADVICE = (
    "Loaders download only from public addresses; an operator can allow a host, address or "
    f"network in {SETTING}."
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
# NAT64 (RFC 6052): the last 32 bits are the IPv4 address the gateway connects to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A host that loaders may not reach; the message says which address and why."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: Address) -> str | None:
    """What makes *ip* non-public ("loopback", "link-local", ...), or None if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_kind(inner)
    kinds = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    )
    for kind, applies in kinds:
        if applies:
            return kind
    return None if ip.is_global else "non-public"


def _parse_address(text: str) -> Address:
    # getaddrinfo gives link-local IPv6 addresses with their zone ("fe80::1%eth0").
    return ipaddress.ip_address(text.split("%", 1)[0])


def _canonical_name(host: str) -> str:
    name = host.strip().lower().removesuffix(".")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _as_written(host: str, ip: Address) -> str:
    """*host* as the URL has it, with the address it stands for if that reads otherwise."""
    try:
        if _parse_address(host) == ip:
            return host
    except ValueError:  # 2130706433, 127.1, 0x7f.1: forms only the resolver reads
        pass
    return f"{host} ({ip})"


def _parse_entry(entry: object) -> str | Network:
    """One entry of the setting: a network (an address is a network of one) or a name."""
    if not isinstance(entry, str) or not entry.strip():
        raise InvalidInput(f"{SETTING}: {entry!r} is not a host name, IP address or CIDR network.")
    text = entry.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text)
    except ValueError as exc:
        # Only a network or an IPv6 address has these; a name may still be good.
        why = f" ({exc})" if "/" in text or ":" in text else ""
    name = _canonical_name(text)
    if why or not _HOST_NAME.fullmatch(name):
        raise InvalidInput(
            f"{SETTING}: {entry!r} is not a host name, IP address or CIDR network{why}."
        )
    return name


def check_allowed_hosts(entries: Iterable[object]) -> list[str]:
    """The setting's entries (stripped), or raise InvalidInput naming the first bad one."""
    if isinstance(entries, str):
        raise InvalidInput(f"{SETTING} must be a list of host names, addresses or networks.")
    checked = []
    for entry in entries:
        _parse_entry(entry)
        checked.append(str(entry).strip())
    return checked


@dataclass(frozen=True)
class HostPolicy:
    """The hosts an http(s) loader may reach: public ones and the operator's exceptions."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, entries: Iterable[object]) -> HostPolicy:
        parsed = [_parse_entry(entry) for entry in entries]
        return cls(
            names=frozenset(entry for entry in parsed if isinstance(entry, str)),
            networks=tuple(entry for entry in parsed if not isinstance(entry, str)),
        )

    def _allows_address(self, ip: Address) -> bool:
        inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in net or (inner is not None and inner in net) for net in self.networks)

    def refusal(self, host: str, address: str) -> str | None:
        """Why *host*, found at *address*, may not be reached (None: it may)."""
        if _canonical_name(host) in self.names:
            return None
        ip = _parse_address(address)
        kind = address_kind(ip)
        if kind is None or self._allows_address(ip):
            return None
        article = "an" if kind[0] in "aeiou" else "a"
        if _parse_literal(host) is not None:
            return f"{_as_written(host, ip)} is {article} {kind} address"
        return f"{host} resolves to {ip}, {article} {kind} address"

    def literal_refusal(self, host: str) -> str | None:
        """Why the literal address *host* may not be reached; None if allowed or a name.

        Decided without the network: a host name is only checked when it is resolved.
        """
        address = _parse_literal(host)
        return None if address is None else self.refusal(host, address)

    def connect(
        self, host: str, port: int, timeout: object, source: tuple[str, int] | None = None
    ) -> socket.socket:
        """A socket connected to an allowed address of *host*, resolved once, here.

        Every address the name resolves to must be allowed (one refused address refuses
        the host, whatever the order the resolver gives), then they are tried in order.
        """
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for *_, sockaddr in found:
            reason = self.refusal(host, str(sockaddr[0]))
            if reason is not None:
                raise AddressRefused(reason)
        error: OSError | None = None
        for family, kind, proto, _name, sockaddr in found:
            sock = socket.socket(family, kind, proto)
            try:
                if isinstance(timeout, int | float):  # not http.client's "default" marker
                    sock.settimeout(timeout)
                if source:
                    sock.bind(source)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or OSError(f"{host} resolves to no address")


def _parse_literal(host: str) -> str | None:
    """The address *host* is written as (any form the resolver reads), or None for a name."""
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return str(found[0][4][0])
