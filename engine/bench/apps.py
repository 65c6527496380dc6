"""Applications the instruction suites run against, each started on 127.0.0.1 and checked through
its own state: the bundled sandbox (its access log and sessions) and Django's admin (django from
PyPI, a fresh SQLite database per case, checked with SQL).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

DJANGO_SETTINGS = """\
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.common.CommonMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "benchsite_urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
STATIC_URL = "static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
"""
DJANGO_URLS = """\
from django.contrib import admin
from django.urls import path
urlpatterns = [path("admin/", admin.site.urls)]
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class DjangoAdmin:
    """Django's admin site in a temporary project, served by ``manage.py runserver`` (static files
    served too, since ``--insecure`` is Django's own switch for that with DEBUG off)."""

    def __init__(self, admin_password: str) -> None:
        try:
            import django  # noqa: F401
        except ImportError:
            raise ConfigError("Bench.instructions: Django is not installed. Run: pip install 'django>=5.2,<6' "
                              "(or pip install .[bench]).") from None
        self.admin_password = admin_password
        self.dir = Path(tempfile.mkdtemp(prefix="rpa-django-"))
        (self.dir / "benchsite_settings.py").write_text(DJANGO_SETTINGS, encoding="utf-8")
        (self.dir / "benchsite_urls.py").write_text(DJANGO_URLS, encoding="utf-8")
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchsite_settings", "PYTHONPATH": str(self.dir)}
        self.template = self.dir / "template.sqlite3"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._manage("migrate", "--noinput", "-v", "0")
        self._shell("from django.contrib.auth.models import User; "
                    f"User.objects.create_superuser('admin', 'admin@example.com', {admin_password!r})")
        shutil.copy(self.db, self.template)

    @property
    def db(self) -> Path:
        return self.dir / "db.sqlite3"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _manage(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "django", *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ConfigError(f"Bench.django: `django {args[0]}` failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def _shell(self, code: str) -> None:
        self._manage("shell", "-c", code)

    def load(self, setup: dict[str, Any] | None) -> None:
        """A fresh database for one case, with its groups and users and their groups (the server keeps running:
        Django opens a connection per request, so the next request reads the new file)."""
        shutil.copy(self.template, self.db)
        lines = ["from django.contrib.auth.models import Group, User"]
        for name in (setup or {}).get("groups", []):
            lines.append(f"Group.objects.create(name={name!r})")
        for user in (setup or {}).get("users", []):
            lines.append(f"u = User.objects.create_user({user['username']!r}, password={user['password']!r}); "
                         f"u.is_staff = {bool(user.get('staff'))!r}; u.save()")
            for group in user.get("groups", []):  # created above: the case lists them in `groups`
                lines.append(f"u.groups.add(Group.objects.get(name={group!r}))")
        if len(lines) > 1:
            self._shell("\n".join(lines))

    def start(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "django", "runserver", f"127.0.0.1:{self.port}",
                                      "--noreload", "--insecure"], cwd=self.dir, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/admin/login/", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise ConfigError(f"Bench.django: the admin did not answer on {self.url} within 30 s.")

    def query(self, sql: str) -> Any:
        """The first column of the first row of ``sql`` on the app's own database."""
        with sqlite3.connect(self.db) as conn:
            row = conn.execute(sql).fetchone()
        return row[0] if row else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def django_admin(admin_password: str) -> Iterator[DjangoAdmin]:
    app = DjangoAdmin(admin_password)
    try:
        yield app
    finally:
        app.close()
