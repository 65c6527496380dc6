"""Browser side of the framework: launching Chromium, running plans, observing pages, recording."""

from loguru import logger

logger.disable("bots")  # the CLI (engine.logs.setup) turns library logs on
