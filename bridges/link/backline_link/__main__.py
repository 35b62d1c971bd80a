"""``python -m backline_link URL --session S --token T``: run the bridge until interrupted
(``backline sync link`` starts it so, with a token it made)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backline-link", description=__doc__)
    parser.add_argument("url", help="server websocket URL")
    parser.add_argument("--session", required=True)
    parser.add_argument("--token", default=os.environ.get("BACKLINE_TOKEN"))
    parser.add_argument("--offset-ms", type=float, default=0.0, help="your output latency")
    args = parser.parse_args(argv)
    if not args.token:
        raise SystemExit("backline-link: --token (or BACKLINE_TOKEN) is required")
    try:
        from aalink import Link
    except ImportError as exc:
        raise SystemExit(f"backline-link: aalink is missing ({exc}): pip install aalink") from None
    from backline.client.session import connect
    from backline_link.bridge import LinkBridge

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        async with connect(args.url, session=args.session, token=args.token, name="link") as s:
            await s.clock.wait_synced()
            link = Link(s.timeline.current.tempo)
            print(f"Link bridge for session {args.session!r}; Ctrl-C stops", flush=True)
            with contextlib.suppress(asyncio.CancelledError):
                await LinkBridge(s, link, offset_ms=args.offset_ms).run()

    asyncio.run(run())


if __name__ == "__main__":
    main()
