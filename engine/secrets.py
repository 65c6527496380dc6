"""Encrypted secret store: Fernet-encrypted JSON at RPA_HOME/secrets.json.

The file is a small JSON envelope ``{"format": "rpa-secrets", "version": 2, "kdf": {...}, "token": ...}``.
With ``RPA_SECRET_KEY`` the Fernet key is derived by scrypt with a random salt; the salt and the
cost parameters are stored in ``kdf`` so a later release can raise them. With the OS keyring the
key is a random Fernet key kept there (``kdf: {"name": "none"}``). A store of the first format
(a bare Fernet token whose key was one unsalted SHA-256 of the passphrase) is read once and
rewritten in the new format.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import SecretError
from engine.logs import register_secret

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEYRING_SERVICE = "rpa"
KEYRING_USER = "secret-store-key"
FORMAT, VERSION = "rpa-secrets", 2
# scrypt cost: 2**15 x 8 x 128 bytes = 32 MiB and about 0.1 s per derivation (the classic
# "interactive" setting raised one step); read back from the file, so it can change later.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES = 2**15, 8, 1, 16
NO_KEY_HINT = "no OS keyring and RPA_SECRET_KEY is not set. Export RPA_SECRET_KEY=<a long passphrase>."


@dataclass(frozen=True)
class Kdf:
    """How the Fernet key comes from the key source: scrypt over a passphrase, or none (a random key)."""

    name: str  # "scrypt" | "none"
    salt: bytes = b""
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def fresh(cls) -> Kdf:
        return cls("scrypt", os.urandom(SALT_BYTES))

    def to_json(self) -> dict[str, Any]:
        if self.name == "none":
            return {"name": "none"}
        return {"name": self.name, "salt": base64.b64encode(self.salt).decode(), "n": self.n, "r": self.r,
                "p": self.p}

    @classmethod
    def from_json(cls, data: Any, path: Path) -> Kdf:
        try:
            if data["name"] == "none":
                return cls("none")
            if data["name"] != "scrypt":
                raise ValueError(data["name"])
            return cls("scrypt", base64.b64decode(data["salt"]), int(data["n"]), int(data["r"]), int(data["p"]))
        except (KeyError, TypeError, ValueError) as err:
            raise SecretError(f"SecretStore.read: {path} names an unknown key derivation ({err}). "
                              "Upgrade rpa or restore the file from a backup.") from None


@functools.lru_cache(maxsize=8)
def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # Cached: a run reads the store once per secret, and each derivation costs 32 MiB and ~0.1 s.
    raw = hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=32)
    return base64.urlsafe_b64encode(raw)


def _legacy_key(passphrase: str) -> bytes:
    """The first format's key: one unsalted SHA-256 of the passphrase (read-only, for migration)."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        return not (isinstance(backend, fail.Keyring) or "null" in type(backend).__name__.lower())
    except Exception as err:  # noqa: BLE001 - no backend at all
        logger.debug("keyring unavailable: {}", type(err).__name__)
        return False


def _keyring_key() -> bytes | None:
    """Key from the OS keyring, created on first use; None when no usable backend exists."""
    if not _keyring_usable():
        return None
    try:
        import keyring

        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        if stored is None:
            stored = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, KEYRING_USER, stored)
        return stored.encode()
    except Exception as err:  # noqa: BLE001 - any backend failure means "no keyring here"
        logger.debug("keyring unavailable: {}", type(err).__name__)
        return None


def _passphrase() -> str | None:
    return os.environ.get("RPA_SECRET_KEY") or None


def key_available() -> bool:
    """Whether secrets can be stored here now (RPA_SECRET_KEY or a working OS keyring)."""
    return _passphrase() is not None or _keyring_usable()


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
        self._key = key  # an explicit Fernet key (tests, embedding): used as is
        self._kdf: Kdf | None = None  # of the file as read, kept for the next write

    def _key_for(self, kdf: Kdf) -> bytes:
        if self._key is not None:
            return self._key
        passphrase = _passphrase()
        if kdf.name == "scrypt":
            if passphrase is None:
                raise SecretError(f"SecretStore.key: {self.path} was written with RPA_SECRET_KEY, which is not "
                                  "set. Export the same RPA_SECRET_KEY.")
            return _scrypt(passphrase, kdf.salt, kdf.n, kdf.r, kdf.p)
        key = _keyring_key()
        if key is None:
            if self.path.exists():
                raise SecretError(f"SecretStore.key: {self.path} was written with the OS keyring's key, "
                                  "and no keyring is usable here. Run rpa where that keyring is unlocked.")
            raise SecretError(f"SecretStore.key: {NO_KEY_HINT}")
        return key

    def _new_kdf(self) -> Kdf:
        if self._key is not None or _passphrase() is None:
            return Kdf("none")
        return Kdf.fresh()

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        if not raw.lstrip().startswith(b"{"):
            return self._migrate(raw)
        try:
            envelope = json.loads(raw)
            if envelope.get("format") != FORMAT or envelope.get("version") != VERSION:
                raise ValueError(f"format {envelope.get('format')} version {envelope.get('version')}")
            kdf = Kdf.from_json(envelope["kdf"], self.path)
            token = envelope["token"].encode()
        except (ValueError, KeyError, AttributeError) as err:
            raise SecretError(f"SecretStore.read: {self.path} is not a secret store this rpa reads ({err}). "
                              "Restore it from a backup or delete it.") from None
        data = self._decrypt(self._key_for(kdf), token)
        self._kdf = kdf
        return data

    def _decrypt(self, key: bytes, token: bytes) -> dict[str, str]:
        try:
            return json.loads(Fernet(key).decrypt(token))
        except InvalidToken:
            raise SecretError(
                f"SecretStore.read: cannot decrypt {self.path} with this key. "
                "Use the key it was written with (RPA_SECRET_KEY) or delete the file."
            ) from None

    def _migrate(self, token: bytes) -> dict[str, str]:
        """The first format: decrypt with its key (SHA-256 of the passphrase, or the keyring's), rewrite."""
        passphrase = _passphrase()
        if self._key is not None:
            key = self._key
        elif passphrase is not None:
            key = _legacy_key(passphrase)
        else:
            key = _keyring_key() or b""
            if not key:
                raise SecretError(f"SecretStore.key: {NO_KEY_HINT}")
        data = self._decrypt(key, token.strip())
        self._kdf = None
        self._write(data)
        logger.info("secret store {} rewritten in format {} (key: {})", self.path, VERSION, self._kdf and self._kdf.name)
        return data

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kdf = self._kdf or self._new_kdf()
        token = Fernet(self._key_for(kdf)).encrypt(json.dumps(data, sort_keys=True).encode())
        envelope = {"format": FORMAT, "version": VERSION, "kdf": kdf.to_json(), "token": token.decode()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(envelope).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._kdf = kdf

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
