"""The client's address behind trusted reverse proxies (issue #9; `WENXU_TRUSTED_PROXIES`).

`REMOTE_ADDR` is the connection's address. When it is one of the trusted proxies (a list of
addresses or CIDR networks, empty by default: not even 127.0.0.1 is trusted unless listed), the
client is the right-most `X-Forwarded-For` hop that is not itself a trusted proxy: each proxy
appends the address it was connected from, so hops to the left of the first untrusted one may
have been written by the client and are never believed.
"""

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry)


def trusted_networks() -> tuple[Network, ...]:
    """`WENXU_TRUSTED_PROXIES` as networks (read at call time, so tests may change it)."""
    return _networks(tuple(str(entry) for entry in settings.WENXU_TRUSTED_PROXIES))


def _parse(raw: str) -> Address | None:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return any(address.version == net.version and address in net for net in networks)


def client_address(request: HttpRequest) -> Address | None:
    """The client's address, or None when the connection has none that parses."""
    address = _parse(str(request.META.get("REMOTE_ADDR") or ""))
    networks = trusted_networks()
    if address is None or not networks or not _trusted(address, networks):
        return address
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        candidate = _parse(hop)
        if candidate is None:
            break  # a hop that is no address: stop at the last proxy that wrote a good one
        address = candidate
        if not _trusted(candidate, networks):
            break
    return address


def client_ip(request: HttpRequest) -> str | None:
    """`client_address` as text (IPv6 in its compressed form)."""
    address = client_address(request)
    return None if address is None else str(address)
