"""Where a webhook may point: http(s) only, and (unless `WENXU_WEBHOOK_ALLOW_PRIVATE`) never at
a private, loopback, link-local, multicast or reserved address.

The host is resolved and every address checked, when the subscription is saved and again on
every send; the request then connects to one of the addresses just checked (never a second
lookup), so a name that changes its answer in between (DNS rebinding) cannot reach inside.
An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64 64:ff9b::/96,
IPv4-compatible ::/96) is judged by that IPv4 address; site-local fec0::/10 is refused.
A URL with non-ASCII characters (an IRI) is sent as its URI (`to_uri`).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be used as a webhook target; the message says why, for people."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the low 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a local translator's prefix
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, IPv4-compatible), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or address in _NAT64_LOCAL:
            return False  # fec0::/10 (deprecated, still routed inside some networks)
        inner = embedded_ipv4(address)
        if inner is not None:
            address = inner
    # `is_global` is false for private, loopback, link-local, reserved, unspecified and
    # shared (100.64/10) addresses alike; multicast is no place to POST either.
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise TargetRefused(
            _("无法解析推送地址的主机名“%(host)s”，请检查地址。") % {"host": host}
        ) from None
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def check(url: str) -> Target:
    """The checked target of `url`, or `TargetRefused` with the reason."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused(_("推送地址格式不正确。")) from None
    if parts.scheme not in {"http", "https"}:
        raise TargetRefused(_("推送地址必须以 http:// 或 https:// 开头。"))
    host = _ascii_host(parts.hostname or "")
    if not host:
        raise TargetRefused(_("推送地址缺少主机名。"))
    if parts.username or parts.password:
        raise TargetRefused(_("推送地址不能包含用户名或密码，请改用签名校验。"))
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not addresses:
        raise TargetRefused(_("无法解析推送地址的主机名“%(host)s”，请检查地址。") % {"host": host})
    if not settings.WENXU_WEBHOOK_ALLOW_PRIVATE:
        for text in addresses:
            if not _public(ipaddress.ip_address(text.split("%", 1)[0])):
                raise TargetRefused(
                    _(
                        "推送地址指向内网、本机或保留地址（%(address)s），不允许推送。"
                        "如确需推送到内网，请由运维设置 WENXU_WEBHOOK_ALLOW_PRIVATE。"
                    )
                    % {"address": text}
                )
    path = _quote(parts.path) or "/"
    if parts.query:
        path = f"{path}?{_quote(parts.query)}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, addresses=addresses)


# What may stay as it is in a URI's path and query (RFC 3986 reserved and unreserved
# characters, and "%" so that escapes already there are kept); everything else is UTF-8
# percent-encoded.
_URI_SAFE = "/:@!$&'()*+,;=?-._~%"


def _quote(text: str) -> str:
    return quote(text, safe=_URI_SAFE, encoding="utf-8")


def _ascii_host(host: str) -> str:
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        pass
    try:
        return ".".join(
            label.encode("idna").decode("ascii") if label else "" for label in host.split(".")
        )
    except UnicodeError:
        raise TargetRefused(_("推送地址的主机名“%(host)s”不正确。") % {"host": host}) from None


def to_uri(url: str) -> str:
    """`url` as an ASCII URI: an internationalised host in IDNA (punycode), the path, query
    and fragment UTF-8 percent-encoded (an IRI such as `https://例子.中国/回调?来源=问需` is
    accepted by the form, but http.client sends only ASCII). `TargetRefused` if malformed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused(_("推送地址格式不正确。")) from None
    host = parts.hostname or ""
    netloc = parts.netloc
    if host:
        ascii_host = _ascii_host(host)
        if ":" in ascii_host:  # IPv6 literal
            ascii_host = f"[{ascii_host}]"
        userinfo = netloc.rpartition("@")[0]
        netloc = (f"{_quote(userinfo)}@" if userinfo else "") + ascii_host
        if port is not None:
            netloc += f":{port}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            _quote(parts.path),
            _quote(parts.query),
            _quote(parts.fragment),
        )
    )
