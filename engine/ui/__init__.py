"""``rpa ui``: a local dashboard over the history, the job store, the bots and the secrets.

Server-rendered pages (Starlette, Jinja2, uvicorn); runs start through the command line.
"""

from engine.ui.app import create_app, serve
from engine.ui.security import UiConfig, make_config

__all__ = ["UiConfig", "create_app", "make_config", "serve"]
