"""The bundled sandbox site: login, invoices, downloads, a form, untrusted notes (see README.md)."""

from bots.sandbox.server import USERS, SandboxServer, SandboxStats, serve, start_sandbox

__all__ = ["USERS", "SandboxServer", "SandboxStats", "serve", "start_sandbox"]
