"""Personal data encrypted at rest, and blind indexes to find it again (issue #9).

Values are sealed with AES-256-GCM under a key ring: the first key encrypts, every key decrypts, so
a key is rotated by putting a new one first and re-encrypting (`wenxu pii_rekey`). A sealed value
is text, `v1:<key id>:<base64url(nonce | ciphertext | tag)>`, with a fresh 96-bit nonce each time.
The associated data names the column (`residents.requester.phone`) and the key id, so a value
copied into another column, or given another key id, does not decrypt. Nothing here returns a
guess: a value that does not decrypt raises `DecryptionError` naming the key id.

A blind index is an HMAC-SHA256 (hex) of a normalised value under a separate key: equal values
give equal indexes, so exact search works without decrypting every row, and the index says
nothing about the value to whoever lacks the key.

This module only needs the standard library and `cryptography`: the settings import it to load
the keys at start-up and refuse malformed ones.
"""

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, the GCM standard
TAG_BYTES = 16
KEY_ID_MAX = 16
_KEY_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{KEY_ID_MAX}}}")
_SEALED = re.compile(rf"{VERSION}:([A-Za-z0-9_-]{{1,{KEY_ID_MAX}}}):([A-Za-z0-9_-]+)")
_FORMAT_HELP = (
    "Each entry is 'id:key', entries separated by commas or new lines, the first one encrypting: "
    "the id 1-16 letters, digits, '-' or '_', the key 32 random bytes in base64. Make an entry "
    'with `echo "k2:$(openssl rand -base64 32)"` or `wenxu pii_rekey --new-key k2`.'
)


class DecryptionError(Exception):
    """A sealed value that cannot be opened: unknown key, wrong key, altered or not sealed."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, in order: the first encrypts, all decrypt."""

    keys: tuple[tuple[str, bytes], ...]
    source: str = "WENXU_PII_KEYS"

    def __post_init__(self) -> None:
        if not self.keys:
            raise ImproperlyConfigured(f"{self.source}: no key. {_FORMAT_HELP}")

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)

    def ids(self) -> list[str]:
        return [kid for kid, _key in self.keys]

    def __repr__(self) -> str:  # never the keys themselves (debug pages, tracebacks)
        return f"KeyRing(ids={self.ids()!r}, source={self.source!r})"


def _decode_key(text: str) -> bytes | None:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.standard_b64decode):
        try:
            raw = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(raw) == KEY_BYTES:
            return raw
    return None


def parse_key_ring(text: str, *, source: str) -> KeyRing:
    """The key ring written in `text`; `ImproperlyConfigured` saying what to do if malformed.

    Error messages name the entry and its id, never the key.
    """
    entries = [entry.strip() for entry in re.split(r"[,\n]", text) if entry.strip()]
    if not entries:
        raise ImproperlyConfigured(f"{source} holds no key. {_FORMAT_HELP}")
    keys: list[tuple[str, bytes]] = []
    for number, entry in enumerate(entries, start=1):
        key_id, colon, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                f"{source}: entry {number} does not start with a valid key id and ':'. "
                + _FORMAT_HELP
            )
        key = _decode_key(encoded)
        if key is None:
            raise ImproperlyConfigured(
                f"{source}: the key of entry {number} (id {key_id!r}) is not {KEY_BYTES} bytes "
                f"in base64. {_FORMAT_HELP}"
            )
        if any(kid == key_id for kid, _key in keys):
            raise ImproperlyConfigured(f"{source}: the key id {key_id!r} appears twice.")
        keys.append((key_id, key))
    return KeyRing(tuple(keys), source=source)


def new_key_entry(key_id: str) -> str:
    """A fresh key ring entry, `id:base64url(32 random bytes)`."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"A key id is 1-{KEY_ID_MAX} letters, digits, '-' or '_'.")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def load_key_ring(configured: str, key_file: Path, *, env_var: str = "WENXU_PII_KEYS") -> KeyRing:
    """The ring in `configured` (the environment), else in `key_file`, created once (0600).

    Like the secret key: the embedded default needs nothing configured, a deployment gives the
    keys from its secret store. Of two processes starting at once one writes, the other reads.
    """
    if configured.strip():
        return parse_key_ring(configured, source=env_var)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        deadline = time.monotonic() + 5.0
        while not (text := key_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not text:
            raise ImproperlyConfigured(
                f"The key file {key_file} is empty: delete it to have a new key generated (only "
                f"when no personal data was encrypted with it yet), or set {env_var}."
            ) from None
        return parse_key_ring(text, source=str(key_file))
    entry = new_key_entry("k1")
    try:
        with os.fdopen(fd, "w") as fp:
            fp.write(entry + "\n")
            fp.flush()
            os.fsync(fp.fileno())
    except BaseException:
        key_file.unlink(missing_ok=True)  # an empty key file would stop every later start
        raise
    return parse_key_ring(entry, source=str(key_file))


@lru_cache(maxsize=16)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)


def _associated_data(key_id: str, context: str) -> bytes:
    return f"{VERSION}:{key_id}:{context}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sealed_length(plain_chars: int) -> int:
    """The longest sealed text of a value of `plain_chars` characters (4 UTF-8 bytes each)."""
    raw = NONCE_BYTES + 4 * plain_chars + TAG_BYTES
    return len(VERSION) + 1 + KEY_ID_MAX + 1 + (raw * 4 + 2) // 3


def is_sealed(value: str) -> bool:
    return _SEALED.fullmatch(value) is not None


def key_id_of(value: str) -> str | None:
    """The id of the key `value` was sealed with; None if it is not a sealed value."""
    sealed = _SEALED.fullmatch(value)
    return sealed.group(1) if sealed else None


def encrypt(plain: str, *, context: str, ring: KeyRing) -> str:
    """`plain` sealed with the ring's first key for the column named `context`; "" stays ""."""
    if plain == "":
        return ""
    key_id, key = ring.keys[0]
    nonce = os.urandom(NONCE_BYTES)
    sealed = _cipher(key).encrypt(nonce, plain.encode(), _associated_data(key_id, context))
    return f"{VERSION}:{key_id}:{_b64(nonce + sealed)}"


def decrypt(value: str, *, context: str, ring: KeyRing) -> str:
    """The plain text of `value` sealed for `context`; "" stays "".

    Raises `DecryptionError` naming the key id when the key is missing or wrong, or the value was
    altered, copied from another column, or never sealed.
    """
    if value == "":
        return ""
    sealed = _SEALED.fullmatch(value)
    if sealed is None:
        raise DecryptionError(
            f"{context}: the stored value is not an encrypted value ({VERSION}:<key id>:…); "
            "was it written around the application (raw SQL, an old backup)?"
        )
    key_id, payload = sealed.groups()
    key = ring.key(key_id)
    if key is None:
        raise DecryptionError(
            f"{context}: the value is encrypted with the key {key_id!r}, which is not in "
            f"{ring.source} (it holds {', '.join(ring.ids())}). Add that key back to the ring."
        )
    try:
        data = _unb64(payload)
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise ValueError("too short")
        plain = _cipher(key).decrypt(
            data[:NONCE_BYTES], data[NONCE_BYTES:], _associated_data(key_id, context)
        )
    except (InvalidTag, ValueError, binascii.Error) as exc:
        raise DecryptionError(
            f"{context}: the value encrypted with the key {key_id!r} does not decrypt: the key "
            f"{key_id!r} in {ring.source} is not the one it was encrypted with, or the value was "
            "altered or copied from another column."
        ) from exc
    return plain.decode()


def blind_index(normalised: str, *, context: str, key: str | bytes) -> str:
    """HMAC-SHA256 (64 hex characters) of `normalised` for `context`; "" for ""."""
    if normalised == "":
        return ""
    secret = key.encode() if isinstance(key, str) else key
    message = context.encode() + b"\x00" + normalised.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
