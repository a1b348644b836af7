"""The SSRF guard: a webhook URL is sent to only if every address its host resolves to is public.

`target_resolve` parses the URL, resolves the host once and vets *every*
address (a name with one public and one private address is refused: the
client could pick either). The delivery then connects to a vetted address
itself (`apps.integrations.transport`), with the name kept for the Host header,
TLS SNI and certificate check, so a second lookup that answers differently
(DNS rebinding) is never made. Refused: private, loopback, link-local,
multicast, reserved, unspecified, shared (CGNAT) and other non-global
addresses, also when wrapped in IPv6 (IPv4-mapped, 6to4, NAT64) — unless
`WEBHOOKS_ALLOW_PRIVATE_ADDRESSES` (tests, on-premises receivers).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
MAX_URL_LENGTH = 2000


class UnsafeUrl(ValueError):
    """A URL Atrium will not send to; the message says why (shown to the API client)."""


class PrivateAddress(UnsafeUrl):
    """The URL's host resolves to an address the SSRF guard refuses."""


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the vetted addresses to connect to, and the name the request is for."""

    scheme: str
    host: str  # the name as in the URL (IDNA-encoded): the Host header, SNI and the certificate's name
    port: int
    path: str  # path and query, what the request line names
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == _SCHEMES[self.scheme] else f"{name}:{self.port}"


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(ip: IPAddress) -> bool:
    """A global unicast address, itself and the IPv4 address it wraps, if any."""
    inner = _embedded_ipv4(ip)
    if inner is not None and not address_is_public(inner):
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _parse(url: str) -> tuple[str, str, int, str]:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("This is not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise UnsafeUrl("The URL must start with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL may not hold a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The URL names no host.")
    if parts.fragment:
        raise UnsafeUrl("The URL may not hold a #fragment.")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise UnsafeUrl("The URL's host name is not valid.") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or _SCHEMES[scheme], path


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {host!r} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])  # drop an IPv6 zone id
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnsafeUrl(f"The host {host!r} does not resolve.")
    return addresses


def target_resolve(url: str, *, allow_private: bool) -> Target:
    """The URL's vetted target; `UnsafeUrl` when it is malformed, does not resolve, or resolves to a private address."""
    scheme, host, port, path = _parse(url)
    addresses = _resolve(host, port)
    if not allow_private:
        for ip in addresses:
            if not address_is_public(ip):
                raise PrivateAddress(
                    f"The host {host!r} resolves to a private address ({ip}): webhooks go only to addresses on the "
                    "public internet."
                )
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(str(ip) for ip in addresses))
