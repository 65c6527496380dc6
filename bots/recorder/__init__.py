"""Record a bot by doing the work once in the browser: ``await Recorder.attach(page)``."""
from bots.recorder.recorder import Recorder

__all__ = ["Recorder"]
