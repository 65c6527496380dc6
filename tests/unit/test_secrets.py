import base64
import hashlib
import json
import os
import stat

import pytest
from cryptography.fernet import Fernet, InvalidToken

from engine.config import get_settings
from engine.errors import SecretError
from engine.secrets import SecretStore


def test_set_get_list_rm():
    store = SecretStore(get_settings())
    store.set("LOGIN_PASSWORD", "wonderland")
    store.set("API_TOKEN", "tok-123456")
    assert store.get("LOGIN_PASSWORD") == "wonderland"
    assert store.list() == ["API_TOKEN", "LOGIN_PASSWORD"]
    store.remove("API_TOKEN")
    assert store.list() == ["LOGIN_PASSWORD"]


def test_file_is_encrypted_and_private():
    store = SecretStore(get_settings())
    store.set("PASSWORD", "wonderland")
    raw = store.path.read_bytes()
    assert b"wonderland" not in raw and b"PASSWORD" not in raw
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_missing_secret_names_fix():
    with pytest.raises(SecretError, match="rpa secret set NOPE"):
        SecretStore(get_settings()).get("NOPE")


def test_wrong_key(monkeypatch):
    SecretStore(get_settings()).set("PASSWORD", "wonderland")
    monkeypatch.setenv("RPA_SECRET_KEY", "another key")
    with pytest.raises(SecretError, match="cannot decrypt"):
        SecretStore(get_settings()).get("PASSWORD")


def test_invalid_name():
    with pytest.raises(SecretError, match="invalid secret name"):
        SecretStore(get_settings()).set("bad name", "x")


def _envelope(store: SecretStore) -> dict:
    return json.loads(store.path.read_bytes())


def test_passphrase_key_is_salted_scrypt_with_stored_parameters(tmp_path, monkeypatch):
    store = SecretStore(get_settings())
    store.set("PASSWORD", "wonderland")
    env = _envelope(store)
    assert env["format"] == "rpa-secrets" and env["version"] == 2
    kdf = env["kdf"]
    assert kdf["name"] == "scrypt" and (kdf["n"], kdf["r"], kdf["p"]) == (2**15, 8, 1)
    salt = base64.b64decode(kdf["salt"])
    assert len(salt) == 16
    # The key is scrypt(passphrase, salt), not the old unsalted sha256: decrypt by hand to prove it.
    raw = hashlib.scrypt(b"test-key-not-secret-0123456789", salt=salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
    assert json.loads(Fernet(base64.urlsafe_b64encode(raw)).decrypt(env["token"].encode())) == {"PASSWORD": "wonderland"}
    legacy = base64.urlsafe_b64encode(hashlib.sha256(b"test-key-not-secret-0123456789").digest())
    with pytest.raises(InvalidToken):
        Fernet(legacy).decrypt(env["token"].encode())
    # Another store with the same passphrase draws another salt; a rewrite keeps the file's salt.
    monkeypatch.setenv("RPA_HOME", str(tmp_path / "other"))
    other = SecretStore(get_settings())
    other.set("PASSWORD", "wonderland")
    assert _envelope(other)["kdf"]["salt"] != kdf["salt"]
    store.set("TOKEN", "t-1")
    assert _envelope(store)["kdf"]["salt"] == kdf["salt"]


def test_store_of_the_first_format_is_read_and_rewritten():
    settings = get_settings()
    settings.home.mkdir(parents=True)
    path = settings.home / "secrets.json"
    legacy = base64.urlsafe_b64encode(hashlib.sha256(b"test-key-not-secret-0123456789").digest())
    path.write_bytes(Fernet(legacy).encrypt(json.dumps({"PASSWORD": "wonderland"}).encode()))
    os.chmod(path, 0o600)
    assert SecretStore(settings).get("PASSWORD") == "wonderland"
    env = json.loads(path.read_bytes())
    assert env["version"] == 2 and env["kdf"]["name"] == "scrypt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert SecretStore(settings).list() == ["PASSWORD"]  # and the new file reads back


def test_scrypt_store_without_passphrase_names_the_fix(monkeypatch):
    SecretStore(get_settings()).set("PASSWORD", "wonderland")
    monkeypatch.delenv("RPA_SECRET_KEY")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(SecretError, match="written with RPA_SECRET_KEY"):
        SecretStore(get_settings()).get("PASSWORD")


def test_explicit_key_store():
    key = Fernet.generate_key()
    SecretStore(get_settings(), key=key).set("A", "b")
    assert _envelope(SecretStore(get_settings(), key=key))["kdf"] == {"name": "none"}
    assert SecretStore(get_settings(), key=key).get("A") == "b"
