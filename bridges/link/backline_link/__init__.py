"""Ableton Link bridge for Backline (GPL-3.0-or-later, a separate distribution)."""

from backline_link.bridge import LinkBridge

__all__ = ["LinkBridge"]
