"""The client's address behind trusted proxies (issue #9; WENXU_TRUSTED_PROXIES)."""

from typing import Any

import pytest
from django.test import RequestFactory

from wenxu.lib.clientip import client_ip


def _ip(remote: str, forwarded: str | None = None) -> str | None:
    meta: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_without_trusted_proxies_the_connection_address_is_the_client():
    assert _ip("127.0.0.1", "8.8.8.8") == "127.0.0.1"
    assert _ip("not an address") is None


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.1.0.5", "8.8.8.8", "8.8.8.8"),
        ("10.1.0.5", "6.6.6.6, 8.8.8.8", "8.8.8.8"),  # the client wrote 6.6.6.6 itself
        ("10.1.0.5", "8.8.8.8, 10.1.0.7", "8.8.8.8"),  # two trusted proxies in a row
        ("10.1.0.5", "", "10.1.0.5"),  # no header: the proxy itself
        ("10.1.0.5", "garbage, 10.1.0.7", "10.1.0.7"),  # stop at a hop that is no address
        ("10.1.0.5", "2001:db8::1", "2001:db8::1"),
        ("::ffff:10.1.0.5", "8.8.8.8", "8.8.8.8"),  # IPv4 written as IPv6
        ("10.2.0.5", "8.8.8.8", "10.2.0.5"),  # not a trusted proxy: the header is ignored
        ("::1", "8.8.8.8", "::1"),
    ],
)
def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client(
    settings, remote, forwarded, expected
):
    settings.WENXU_TRUSTED_PROXIES = ["10.1.0.0/24"]
    assert _ip(remote, forwarded) == expected
