"""Helpers for the login security tests (issue #9): the login form, codes from a TOTP key."""

import base64
import hashlib
import hmac
import struct
import time
from typing import Any

from django.test import Client

from wenxu.accounts.models import User

LOGIN = "/accounts/login/"
STRONG = "Qingshan#2026"


def login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def totp(key: bytes, at: float | None = None) -> str:
    """The RFC 6238 code (SHA-1, 30 s, 6 digits) of `key` at `at`, as an authenticator app
    computes it: written here, not taken from django-otp, so that the tests check both."""
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def key_from_secret(secret: str) -> bytes:
    """The key behind the base32 secret shown for typing in by hand."""
    compact = "".join(secret.split())
    return base64.b32decode(compact + "=" * (-len(compact) % 8))


def superuser() -> User:
    return User.objects.create_superuser(username="root", password=STRONG)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
