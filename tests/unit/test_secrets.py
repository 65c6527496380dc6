import os
import stat

import pytest

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
