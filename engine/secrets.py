"""Encrypted secret store: Fernet-encrypted JSON at RPA_HOME/secrets.json."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import SecretError
from engine.logs import register_secret

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEYRING_SERVICE = "rpa"
KEYRING_USER = "secret-store-key"


def _key_from_passphrase(passphrase: str) -> bytes:
    # Fernet wants 32 url-safe base64 bytes; a sha256 of the passphrase gives exactly that.
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def _keyring_key() -> bytes | None:
    """Key from the OS keyring, created on first use; None when no usable backend exists."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or "null" in type(backend).__name__.lower():
            return None
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        if stored is None:
            stored = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, KEYRING_USER, stored)
        return stored.encode()
    except Exception as err:  # any backend failure means "no keyring here"
        logger.debug("keyring unavailable: {}", type(err).__name__)
        return None


def load_key() -> bytes:
    env = os.environ.get("RPA_SECRET_KEY")
    if env:  # an explicit env key wins so tests and servers are deterministic
        return _key_from_passphrase(env)
    key = _keyring_key()
    if key is None:
        raise SecretError(
            "SecretStore.key: no OS keyring and RPA_SECRET_KEY is not set. "
            "Export RPA_SECRET_KEY=<a long passphrase>."
        )
    return key


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise SecretError(
            f"SecretStore: invalid secret name {name!r}. Use letters, digits and _ (e.g. LOGIN_PASSWORD)."
        )
    return name


class SecretStore:
    def __init__(self, settings: Settings | None = None, key: bytes | None = None) -> None:
        self.settings = settings or get_settings()
        self.path: Path = self.settings.home / "secrets.json"
        self._key = key

    @property
    def _fernet(self) -> Fernet:
        if self._key is None:
            self._key = load_key()
        return Fernet(self._key)

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        token = self.path.read_bytes()
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise SecretError(
                f"SecretStore.read: cannot decrypt {self.path} with this key. "
                "Use the key it was written with (RPA_SECRET_KEY) or delete the file."
            ) from None

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        token = self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(token)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def set(self, name: str, value: str) -> None:
        check_name(name)
        register_secret(value)
        data = self._read()
        data[name] = value
        self._write(data)
        logger.info("secret {} stored", name)

    def get(self, name: str) -> str:
        check_name(name)
        data = self._read()
        if name not in data:
            raise SecretError(f"Secrets.get: no secret named '{name}'. Set it with: rpa secret set {name}")
        register_secret(data[name])
        return data[name]

    def has(self, name: str) -> bool:
        return name in self._read()

    def list(self) -> list[str]:
        return sorted(self._read())

    def remove(self, name: str) -> None:
        check_name(name)
        data = self._read()
        if name not in data:
            raise SecretError(f"Secrets.remove: no secret named '{name}'. See: rpa secret list")
        del data[name]
        self._write(data)
