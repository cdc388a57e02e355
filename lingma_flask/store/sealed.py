"""Encryption at rest of what the store shares between hosts: Fernet, keyed from LINGMA_SECRET_KEY.

Fernet (the `cryptography` package: AES-128-CBC with an HMAC-SHA256, a timestamp and a random
IV per message) takes a 32-byte key; HKDF-SHA256 derives one from the operator's secret, with
a purpose of its own, so the key that encrypts the shared login is not the one that signs the
admin's cookies. Every host must be given the same LINGMA_SECRET_KEY.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSE = b"lingma-flask: the Lingma login shared through the store, v1"
SALT = b"lingma-flask"


class WrongKey(ValueError):
    """A sealed value this key cannot open: another LINGMA_SECRET_KEY sealed it (or it is damaged)."""


class Sealer:
    """Seal and open values with the key derived from a secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a secret is needed")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=PURPOSE).derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, data: bytes) -> bytes:
        """`data` encrypted and authenticated (a Fernet token)."""
        return self._fernet.encrypt(data)

    def open(self, token: bytes) -> bytes:
        """The data sealed in `token`; WrongKey when this key did not seal it."""
        try:
            return self._fernet.decrypt(bytes(token))
        except InvalidToken:
            raise WrongKey("sealed with another key") from None
