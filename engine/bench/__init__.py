"""Benchmarks behind ``rpa bench ...``; each returns a JSON-ready dict."""
