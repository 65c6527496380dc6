"""TLS for Dask connections: required for any scheduler address beyond this machine.

Plain ``tcp://`` is accepted only for loopback addresses. Anything else needs a ``tls://`` address
and three PEM files (the CA that signed every certificate, this process's certificate and key);
docs/cluster.md shows how to make them with openssl.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from distributed.security import Security

from engine.errors import ConfigError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def host_of(address: str) -> str:
    return urlparse(address if "://" in address else f"tcp://{address}").hostname or ""


def is_local(address: str) -> bool:
    host = host_of(address)
    return host in LOCAL_HOSTS or host.startswith("127.")


def make_security(address: str, ca_file: str | None = None, cert: str | None = None, key: str | None = None,
                  *, role: str = "client") -> Security | None:
    """``None`` for a loopback ``tcp://`` address without certificates; TLS everywhere else, or a
    one-line ``ConfigError`` that says what to pass. ``role`` is ``client`` or ``worker``."""
    given = [p for p in (ca_file, cert, key) if p]
    if not given:
        if address.startswith("tls://"):
            raise ConfigError(f"Cluster.connect: {address} is a TLS address; pass --tls-ca-file, --tls-cert "
                              "and --tls-key (see docs/cluster.md).")
        if is_local(address):
            return None
        raise ConfigError(
            f"Cluster.connect: {address} is not on this machine, so TLS is required. Use a tls:// address "
            "with --tls-ca-file, --tls-cert and --tls-key (see docs/cluster.md)."
        )
    for label, path in (("--tls-ca-file", ca_file), ("--tls-cert", cert), ("--tls-key", key)):
        if not path:
            raise ConfigError(f"Cluster.connect: TLS needs {label} too (CA file, certificate and key).")
        if not Path(path).is_file():
            raise ConfigError(f"Cluster.connect: {label} file '{path}' not found.")
    if not address.startswith("tls://"):
        raise ConfigError(f"Cluster.connect: with certificates the address must start with tls://, got {address}.")
    return Security(
        tls_ca_file=ca_file,
        require_encryption=True,
        **{f"tls_{role}_cert": cert, f"tls_{role}_key": key},
    )
