"""Keys kept outside the database, and the cipher for the secrets the service does keep in it.

`TYPHOON_SECRET_KEY` (or its `_FILE`) encrypts what the service stores for itself (today the
generated VAPID private key): someone who can read the database, or a backup of it, does not
get them. Without the setting a key is made once in `TYPHOON_DATA_DIR/secret.key` (mode 0600),
enough for one host; a deployment of several hosts sets the same key on every process.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from emergency.settings import Settings

PREFIX = "fernet:"
KEY_FILE = "secret.key"


class SecretKeyMismatch(RuntimeError):
    """A stored secret was encrypted with another TYPHOON_SECRET_KEY."""


def secret_key(settings: Settings) -> str:
    """TYPHOON_SECRET_KEY, else the key file of TYPHOON_DATA_DIR (made once)."""
    configured = settings.secret("secret_key")
    if configured:
        return configured
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32))
            os.chmod(tmp, 0o600)
            # link, not replace: two processes starting together keep the first key
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


class SecretCipher:
    """Encrypts short secrets for storage as "fernet:<token>" (AES-128-CBC + HMAC-SHA256,
    with a key derived from the secret key for this one purpose)."""

    def __init__(self, key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"typhoon stored secrets"
        ).derive(key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not self.is_encrypted(stored):
            raise ValueError("not an encrypted value")
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyMismatch(
                "a secret stored in the database was encrypted with another "
                "TYPHOON_SECRET_KEY: set the same key on every process"
            ) from None

    @staticmethod
    def is_encrypted(stored: str) -> bool:
        return stored.startswith(PREFIX)


def cipher(settings: Settings) -> SecretCipher:
    return SecretCipher(secret_key(settings))
