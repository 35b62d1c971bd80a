"""The `backline` command: serve, mint tokens, print a project, run a bundled bot.

The one place that imports both the server and the SDK.
"""

from backline.cli.main import main

__all__ = ["main"]
