"""`backline sync link` without the optional GPL bridge says how to get it, and stops."""

from __future__ import annotations

import importlib.util

import pytest

from backline.cli.main import main


def test_without_the_bridge_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "backline_link" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(SystemExit) as stopped:
        main(["sync", "link", "ws://127.0.0.1:9", "--session", "s", "--token", "t"])
    message = str(stopped.value.code)
    assert "pip install ./bridges/link" in message and "GPL" in message
    assert "MIT" in message
