"""Tokens at rest: Fernet (cryptography), with key rotation.

RINGBACK_ENCRYPTION_KEY holds one or more Fernet keys separated by commas: the first encrypts,
all decrypt, so a new key is added in front and the old one dropped once `rotate` has
re-encrypted every stored token. In development, without the setting, a random key is made on
first run and kept in the data directory (integration.config); production requires the setting.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(ValueError):
    pass


class Vault:
    def __init__(self, keys: str):
        try:
            fernets = [Fernet(k.strip().encode()) for k in (keys or "").split(",") if k.strip()]
            if not fernets:
                raise ValueError
        except (ValueError, TypeError):
            raise VaultError("RINGBACK_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), "
                             "comma-separated; make one with `ringback keys new`") from None
        self._fernet = MultiFernet(fernets)

    def seal(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored token cannot be decrypted with RINGBACK_ENCRYPTION_KEY (key removed too early?)") from None

    def rotate(self, sealed: str) -> str:
        return self._fernet.rotate(sealed.encode()).decode()

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()
