"""`backline`: serve, mint tokens, print a project, run a bundled bot."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backline.protocol.errors import BacklineError
from backline.protocol.messages import DEFAULT_INVITE_TTL, Role
from backline.protocol.tokens import ANY_SESSION, mint, token_id
from backline.server.config import (
    SERVE_DESCRIPTION,
    SERVE_USAGE,
    add_serve_arguments,
    add_setting_arguments,
    settings_or_exit,
)
from backline.server.runtime import MissingSecret, load_secret, run_loop, run_server

__all__ = ["main"]


def _secret(args: argparse.Namespace) -> bytes:
    """The server's secret, to mint tokens with: `--secret`, or the one in `--data-dir`."""
    try:
        return load_secret(args.secret, Path(args.data_dir), create=False)
    except MissingSecret as exc:
        raise SystemExit(f"backline: {exc}") from None


def _token_for(args: argparse.Namespace, role: Role, *, create: bool = False) -> str:
    """The given token, or one minted from the secret with the least role the command needs
    (`create`: it may create the session, as a bot started on a new session does).

    No expiry: a bot must be able to reconnect hours later with the same token.
    """
    if args.token:
        return str(args.token)
    return mint(_secret(args), args.session, role, nonce=secrets.token_hex(6), may_create=create)


def websocket_url(url: str) -> str:
    """The server's websocket URL from what a user typed: ``ws://`` and ``wss://`` as they
    are, ``http(s)://`` (the page's address) as ``ws(s)://``, a bare ``host:port`` as
    ``ws://host:port``; anything else is refused with a sentence, not a traceback."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "ws", url
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
    host = rest.split("/", 1)[0]
    if scheme not in ("ws", "wss") or not host or host.startswith(":"):
        raise SystemExit(
            f"backline: {url!r} is not a server address; give ws://HOST:PORT "
            "(or the page's http://HOST:PORT)"
        )
    return f"{scheme}://{rest}"


def _cmd_serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    run_server(settings_or_exit(parser, args))


def _cmd_token(args: argparse.Namespace) -> None:
    if args.ttl is not None and args.ttl <= 0:
        raise SystemExit(
            f"backline token: --ttl must be a positive number of seconds, not {args.ttl}"
        )
    expires = None if args.ttl is None else int(time.time()) + int(args.ttl)
    token = mint(
        _secret(args),
        args.session,
        Role(args.role),
        expires,
        nonce=secrets.token_hex(6),
        may_create=args.create,
    )
    print(token)
    if sys.stderr.isatty():
        print(f"token id {token_id(token)} (for `backline revoke --token-id`)", file=sys.stderr)


def _joined(args: argparse.Namespace, role: Role, name: str) -> Any:
    """A one-shot command's session: `args.url` and `--session`, no reconnects."""
    from backline.client.session import connect

    token = _token_for(args, role)
    return connect(
        websocket_url(args.url), session=args.session, token=token, name=name, reconnect=False
    )


def _version_or_time(text: str) -> int | str:
    """``--at``: a version number, or an ISO 8601 time (naive: UTC)."""
    if text.isdigit():
        return int(text)
    from backline.client.history import unix_ms

    try:
        unix_ms(text)
    except ValueError:
        raise SystemExit(
            f"backline: --at takes a version number or an ISO time like 2026-12-07T10:30, not {text!r}"
        ) from None
    return text


def _iso(ms: int) -> str | None:
    import datetime

    if not ms:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(timespec="seconds")


def _blame_json(blame: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        entity: {
            "made_by": b.made_by,
            "made_by_name": names.get(b.made_by, ""),
            "made_at": _iso(b.made_at),
            "changed_by": b.changed_by,
            "changed_by_name": names.get(b.changed_by, ""),
            "changed_at": _iso(b.changed_at),
        }
        for entity, b in sorted(blame.items())
    }


def _cmd_state(args: argparse.Namespace) -> None:
    at = None if args.at is None else _version_or_time(args.at)
    reads_past = at is not None or args.blame
    role = Role.EDITOR if reads_past else Role.VIEWER  # the history is for editors and owners

    async def main() -> None:
        async with _joined(args, role, "backline state") as s:
            if s.version == 0:  # joining made it: nobody has edited a session of that name
                raise SystemExit(
                    f"backline: session {args.session!r} has no edits yet: is the name right?"
                )
            project, version, blame = s.project, s.version, None
            if at is not None:
                past = await s.history.at(at)
                project, version, blame = past.project, past.version, past.blame
            elif args.blame:
                blame = await s.history.blame()
            if args.midi is not None:
                from backline.protocol.smf import project_midi

                midi = project_midi(project, chord_notes=args.chord_notes)
                Path(args.midi).write_bytes(midi)
                print(f"wrote {args.midi} ({len(midi)} bytes, version {version})")
                return
            data: dict[str, Any] = project.to_data()
            data["version"] = version
            if args.blame and blame is not None:
                if not s.history.names:
                    await s.history.versions(count=1)
                data["blame"] = _blame_json(blame, s.history.names)
            json.dump(data, sys.stdout, indent=None if args.compact else 2)
            sys.stdout.write("\n")

    run_loop(main())


def _cmd_history(args: argparse.Namespace) -> None:
    """The timeline: one line per version, newest last; labels and the parent too."""

    async def main() -> None:
        async with _joined(args, Role.EDITOR, "backline history") as s:
            rows = await s.history.versions(count=args.count)
            history = s.history
        if args.json:
            json.dump(
                {
                    "versions": [
                        {**{k: getattr(r, k) for k in r.__dataclass_fields__}, "at": _iso(r.at)}
                        for r in rows
                    ],
                    "labels": history.labels,
                    "parent": history.parent,
                    "forks": history.forks,
                    "credits": history.credits,
                },
                sys.stdout,
                indent=2,
            )
            sys.stdout.write("\n")
            return
        if history.parent:
            p = history.parent
            print(f"forked from {p['session']} v{p['version']} by {p.get('name') or p['by']}")
        labels: dict[int, list[str]] = {}
        for label in history.labels:
            labels.setdefault(int(label["version"]), []).append(str(label["name"]))
        for r in rows:
            named = "".join(f"  [{name}]" for name in labels.get(r.version, []))
            who = r.name or r.by
            print(
                f"v{r.version:<6} {_iso(r.at) or '-':<25} {who:<16} {r.source:<7} {r.summary}{named}"
            )

    run_loop(main())


def _cmd_fork(args: argparse.Namespace) -> None:
    async def main() -> None:
        async with _joined(args, Role.EDITOR, "backline fork") as s:
            made = await s.fork(args.new_session, version=args.at)
        print(made["link"])
        print(
            f"forked {args.session} v{made['version']} into {made['session']}; the link above"
            " makes you its owner",
            file=sys.stderr,
        )

    run_loop(main())


def _cmd_import(args: argparse.Namespace) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"backline import: no file {args.file!r}")
    kind = args.format or ("project" if path.suffix.lower() == ".json" else "midi")

    async def main() -> None:
        async with _joined(args, Role.EDITOR, "backline import") as s:
            before = len(s.project.tracks), len(s.project.notes)
            edit = s.import_midi(path) if kind == "midi" else s.import_project(path)
            version = await edit
            await s.wait_version(version)
            tracks, notes = len(s.project.tracks), len(s.project.notes)
        if kind == "midi":
            print(
                f"imported {path.name} as version {version}: +{tracks - before[0]} tracks,"
                f" +{notes - before[1]} notes (undo takes it back in one step)"
            )
            from backline.media.midi_import import read_midi

            for warning in read_midi(path.read_bytes()).warnings:  # what the server read too
                print(f"note: {warning}", file=sys.stderr)
        else:
            print(f"imported {path.name} as version {version}: {tracks} tracks, {notes} notes")

    run_loop(main())


def _cmd_bot(args: argparse.Namespace) -> None:
    from backline.client.bots import BOTS

    bot = BOTS[args.bot]()
    if args.name:
        bot.name = args.name
    if args.out is not None:
        if not hasattr(bot, "out"):
            raise SystemExit(f"backline: the {args.bot} bot does not write a file (--out)")
        bot.out = Path(args.out)
    if args.write:
        if not hasattr(bot, "write"):
            raise SystemExit(f"backline: the {args.bot} bot writes no part (--write)")
        bot.write = True
    if args.silent:
        if not hasattr(bot, "audible"):
            raise SystemExit(f"backline: the {args.bot} bot makes no sound (--silent)")
        bot.audible = False
    if args.relay_only:
        from backline.media.ice import Gathering

        bot.ice = Gathering(relay_only=True)
    token = _token_for(args, Role.EDITOR, create=True)

    async def main() -> None:
        # SIGTERM/SIGINT leave the session cleanly (the others see the bot go) and exit 0
        _cancel_on_signals()
        try:
            await bot.run(websocket_url(args.url), session=args.session, token=token)
        except asyncio.CancelledError:
            logging.getLogger("backline.bot").info("%s stopped", bot.name)

    run_loop(main())


def _cancel_on_signals() -> None:
    """SIGTERM and SIGINT cancel the running task: a long-running command ends cleanly."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)


def _cmd_sync_midi(args: argparse.Namespace) -> None:
    """MIDI clock out, following the session's timeline, until interrupted (Stop on exit)."""
    from backline.client.midi_sync import (
        MemoryOut,
        MidiClock,
        MidiClockIn,
        MidiOut,
        MidiUnavailable,
        open_input,
        open_port,
    )
    from backline.client.session import ConnectionState, connect

    if not -1000 <= args.offset_ms <= 1000:
        raise SystemExit("backline sync midi: --offset-ms must be between -1000 and 1000")
    if args.follow and not args.port:
        raise SystemExit("backline sync midi: --in needs --port NAME (the MIDI input to follow)")
    out: MidiOut
    if args.dry_run or args.follow:
        out = MemoryOut()
    else:
        try:
            out = open_port(args.port, virtual=not args.existing)
        except MidiUnavailable as exc:
            raise SystemExit(f"backline sync midi: {exc.message}") from None
    token = _token_for(args, Role.EDITOR if args.follow else Role.VIEWER)

    async def main() -> None:
        _cancel_on_signals()
        try:
            async with connect(
                websocket_url(args.url), session=args.session, token=token, name="midi clock"
            ) as s:
                await s.clock.wait_synced()
                if args.follow:  # the port is the tempo source: its clock becomes edits
                    follower = MidiClockIn(s)
                    try:
                        close = open_input(args.port, follower.receive)
                    except MidiUnavailable as exc:
                        raise SystemExit(f"backline sync midi: {exc.message}") from None
                    print(f"following MIDI clock from {args.port!r} for session "
                          f"{args.session!r}; Ctrl-C stops", flush=True)  # fmt: skip
                    try:
                        await asyncio.Event().wait()
                    finally:
                        close()
                clock = MidiClock(
                    s.timeline,
                    out,
                    offset_ms=args.offset_ms,
                    connected=lambda: s.state is ConnectionState.CONNECTED,
                )
                where = "a dry run" if args.dry_run else f"port {args.port or 'Backline clock'}"
                print(
                    f"MIDI clock for session {args.session!r} on {where}; Ctrl-C stops", flush=True
                )
                await clock.run()
        except asyncio.CancelledError:
            pass
        finally:
            out.close()

    run_loop(main())


def _cmd_sync_link(args: argparse.Namespace) -> None:
    """Run the Ableton Link bridge, a separate GPL distribution, as its own process."""
    import importlib.util

    if importlib.util.find_spec("backline_link") is None:  # looked up, never imported
        raise SystemExit(
            "backline sync link: the Link bridge is a separate package under the GPL (it "
            "embeds Ableton Link), not installed here: `pip install ./bridges/link` from a "
            "Backline checkout (see bridges/link/README.md); Backline itself stays MIT"
        )
    token = _token_for(args, Role.EDITOR)
    command = [sys.executable, "-m", "backline_link", websocket_url(args.url),
               "--session", args.session, "--token", token, "--offset-ms", str(args.offset_ms)]  # fmt: skip
    os.execv(sys.executable, command)


def _cmd_record(args: argparse.Namespace) -> None:
    """Start or stop the server-side recording of the session's audio room (owners)."""

    async def main() -> None:
        async with _joined(args, Role.OWNER, "backline record") as s:
            if args.action == "start":
                started = await s.audio.record_start()
                print(f"recording {started['id']} started in session {args.session!r}")
            else:
                stopped = await s.audio.record_stop()
                print(f"recording {stopped['id']} stopped; `backline recordings` lists its files")

    run_loop(main())


def _until(expires: object) -> str:
    if not isinstance(expires, int):
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires))


def _cmd_invite(args: argparse.Namespace) -> None:
    """Create a personal invite (owners): the link on stdout, what it grants on stderr."""
    if args.ttl <= 0:
        raise SystemExit(
            f"backline invite: --ttl must be a positive number of seconds, not {args.ttl}"
        )
    if args.uses <= 0:
        raise SystemExit(f"backline invite: --uses must be at least 1, not {args.uses}")

    async def main() -> None:
        async with _joined(args, Role.OWNER, "backline invite") as s:
            made = await s.invite(args.role, name=args.name, expires_in=args.ttl, uses=args.uses)
        print(made["link"])
        uses = "1 person" if made["uses"] == 1 else f"{made['uses']} people"
        whom = f" for {made['name']!r}" if made["name"] else ""
        print(
            f"invite {made['invite']}{whom}: {made['role']}, lets {uses} in, valid until"
            f" {_until(made['expires'])}; take it back with `backline revoke … --invite"
            f" {made['invite']}`",
            file=sys.stderr,
        )

    run_loop(main())


def _cmd_access(args: argparse.Namespace) -> None:
    """List the session's invites and the people who hold access (owners)."""

    async def main() -> None:
        async with _joined(args, Role.OWNER, "backline access") as s:
            listed = await s.access()
            me = s.client_id
        if args.json:
            json.dump(listed, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        invites = listed["invites"]
        people = [p for p in listed["people"] if p["client"] != me]
        print("invites:" if invites else f"no invites in session {args.session!r}")
        for i in invites:
            state = "revoked" if i["revoked"] else f"{i['used']}/{i['uses']} used"
            name = f" {i['name']!r}" if i["name"] else ""
            print(f"  {i['id']}  {i['role']:<6}{name}  {state}, until {_until(i['expires'])}")
        print("people:" if people else f"nobody else holds access to session {args.session!r}")
        for p in people:
            state = "revoked" if p["revoked"] else ("online" if p["online"] else "offline")
            via = f"invite {p['invite']}" if p.get("invite") else f"token {p.get('token') or '?'}"
            print(
                f"  {p['client']}  {p.get('name') or '?'}  {p.get('role') or '-'}  {state}  {via}"
            )

    run_loop(main())


def _cmd_revoke(args: argparse.Namespace) -> None:
    """Revoke one person, one invite or one token id (owners): closed at once, refused after."""
    target = {"client": args.person, "invite": args.invite, "token": args.token_id}
    given = {k: v for k, v in target.items() if v}
    if len(given) != 1:
        raise SystemExit("backline revoke: give exactly one of --person, --invite or --token-id")

    async def main() -> None:
        async with _joined(args, Role.OWNER, "backline revoke") as s:
            await s.revoke(**given)
        ((kind, value),) = given.items()
        what = {"client": "person", "invite": "invite", "token": "token"}[kind]
        print(f"revoked {what} {value} in session {args.session!r}")

    run_loop(main())


def _cmd_recordings(args: argparse.Namespace) -> None:
    from backline.client.recordings import download, list_recordings

    token = _token_for(args, Role.OWNER)
    recordings = list_recordings(args.url, args.session, token)
    if args.download is None:
        if args.json:
            json.dump(recordings, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        for r in recordings:
            seconds = (
                "recording"
                if r.get("samples") is None
                else f"{r['samples'] / r['sample_rate']:.1f} s"
            )
            names = ", ".join(p["name"] for p in r.get("participants", []))
            print(f"{r['id']}  {r.get('started_at', '?')}  {seconds}  {names}")
        if not recordings:
            print(f"no recordings in session {args.session!r}", file=sys.stderr)
        return
    found = next((r for r in recordings if r["id"] == args.download), None)
    if found is None:
        raise SystemExit(f"backline: no recording {args.download!r} in session {args.session!r}")
    out = Path(args.out or args.download)
    out.mkdir(parents=True, exist_ok=True)
    for file in found["files"]:
        data = download(args.url, args.session, token, args.download, file["name"])
        (out / file["name"]).write_bytes(data)
        print(out / file["name"])


def _cmd_render(args: argparse.Namespace) -> None:
    """Bounce the session on the server, show its progress, fetch the files into --out."""
    from backline.client.renders import download_render, render

    token = _token_for(args, Role.EDITOR)
    url = websocket_url(args.url)
    tty = sys.stderr.isatty()

    def progress(job: dict[str, object]) -> None:
        share = float(str(job.get("progress", 0.0)))
        bar = "#" * round(share * 30)
        line = f"render {job['status']:<7} [{bar:<30}] {share * 100:3.0f}% {job.get('stage', '')}"
        print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

    job = render(url, args.session, token, stems=args.stems, version=args.version,
                 on_progress=progress)  # fmt: skip
    if tty:
        print(file=sys.stderr)
    out = Path(args.out)
    for path in download_render(url, args.session, token, job, out):
        print(path)
    lufs = "n/a" if job.get("lufs") is None else f"{job['lufs']:.1f} LUFS"
    peak = "n/a" if job.get("true_peak_db") is None else f"{job['true_peak_db']:.1f} dBTP"
    print(f"v{job['version']}: {job['seconds']:.1f} s, {lufs}, true peak {peak}", file=sys.stderr)


def _cmd_export(args: argparse.Namespace) -> None:
    """Write the session as a REAPER project into --rpp: every track's MIDI, and the stems
    of the latest render of its current version when there is one (--render: make it)."""
    from backline.client.exports import export_reaper
    from backline.protocol.model import Document

    async def project() -> tuple[Document, int]:
        async with _joined(args, Role.VIEWER, "backline export") as s:
            if s.version == 0:
                raise SystemExit(
                    f"backline: session {args.session!r} has no edits yet: is the name right?"
                )
            return s.project.copy(), s.version

    doc, version = run_loop(project())
    # renders are for owners and editors; without --token, mint the least role that sees them
    token = _token_for(args, Role.EDITOR)

    def progress(job: dict[str, Any]) -> None:
        share = float(job.get("progress", 0.0))
        print(f"render {job['status']} {share * 100:3.0f}% {job.get('stage', '')}",
              file=sys.stderr, flush=True)  # fmt: skip

    done = export_reaper(websocket_url(args.url), args.session, token, doc, version,
                         Path(args.rpp), render=args.render, on_progress=progress)  # fmt: skip
    print(done.project)
    for path in done.audio:
        print(path)
    stems = f"stems of render {done.render['id']}" if done.render else "MIDI only"
    why = f" ({done.note})" if done.note else ""
    print(f"v{version}: {len(doc.track_order)} tracks, {stems}{why}", file=sys.stderr)


# the server's own flags (and variables) for the secret a token is minted with
_SECRET_SETTINGS = ("secret", "data_dir")


def _add_auth(p: argparse.ArgumentParser, env: dict[str, str]) -> None:
    p.add_argument(
        "--token", default=env.get("BACKLINE_TOKEN"), help="token (else minted from the secret)"
    )
    add_setting_arguments(p, env, _SECRET_SETTINGS)


def build_parser() -> argparse.ArgumentParser:
    from backline.client.bots import BOTS

    env = dict(os.environ)
    parser = argparse.ArgumentParser(prog="backline", description="Real-time music collaboration.")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected failure"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run a server (embedded SQLite store by default)",
        usage=SERVE_USAGE,
        description=SERVE_DESCRIPTION,
    )
    add_serve_arguments(serve, env)
    serve.set_defaults(func=functools.partial(_cmd_serve, serve))

    token = sub.add_parser("token", help="mint an access token")
    token.add_argument("--session", required=True, help=f"session name, or {ANY_SESSION!r} for all")
    token.add_argument("--role", choices=[r.value for r in Role], default="editor")
    token.add_argument(
        "--ttl", type=int, default=None, help="seconds until it expires (default never)"
    )
    token.add_argument(
        "--create",
        action="store_true",
        help="may create the session if it does not exist (owners' tokens always may)",
    )
    add_setting_arguments(token, env, _SECRET_SETTINGS)
    token.set_defaults(func=_cmd_token)

    state = sub.add_parser("state", help="print a session's project as JSON")
    state.add_argument("url", help="server websocket URL, e.g. ws://127.0.0.1:8765")
    state.add_argument("--session", required=True)
    state.add_argument("--compact", action="store_true", help="one line of JSON")
    state.add_argument(
        "--midi", default=None, metavar="FILE", help="write the project as a MIDI file instead"
    )
    state.add_argument(
        "--chord-notes",
        action="store_true",
        help="with --midi: the chord track as a track of notes too (always as markers)",
    )
    state.add_argument(
        "--at",
        default=None,
        metavar="VERSION|TIME",
        help="the project as it was at a version, or at an ISO time such as 2026-12-07T21:30"
        " (UTC unless it says otherwise)",
    )
    state.add_argument(
        "--blame",
        action="store_true",
        help="add who made and who last changed each entity, and when",
    )
    _add_auth(state, env)
    state.set_defaults(func=_cmd_state)

    hist = sub.add_parser("history", help="list a session's versions, labels and forks")
    hist.add_argument("url", help="server websocket URL, e.g. ws://127.0.0.1:8765")
    hist.add_argument("--session", required=True)
    hist.add_argument("--count", type=int, default=200, help="the newest this many versions")
    hist.add_argument("--json", action="store_true", help="as JSON")
    _add_auth(hist, env)
    hist.set_defaults(func=_cmd_history)

    fork = sub.add_parser("fork", help="copy a session (at a version) into a new session")
    fork.add_argument("url", help="server websocket URL, e.g. ws://127.0.0.1:8765")
    fork.add_argument("--session", required=True, help="the session to fork")
    fork.add_argument("new_session", metavar="NEW", help="the new session's name")
    fork.add_argument("--at", type=int, default=None, metavar="VERSION", help="default: now")
    _add_auth(fork, env)
    fork.set_defaults(func=_cmd_fork)

    imp = sub.add_parser(
        "import", help="import a MIDI file (adds tracks) or a project JSON (replaces it)"
    )
    imp.add_argument("url", help="server websocket URL, e.g. ws://127.0.0.1:8765")
    imp.add_argument("--session", required=True)
    imp.add_argument("file", metavar="FILE", help="a .mid/.midi file or a project .json")
    imp.add_argument(
        "--format", choices=("midi", "project"), default=None, help="default: from the name"
    )
    _add_auth(imp, env)
    imp.set_defaults(func=_cmd_import)

    bot = sub.add_parser("bot", help="run a bundled bot")
    bot.add_argument("bot", choices=sorted(BOTS), help="which bot")
    bot.add_argument("url", help="server websocket URL")
    bot.add_argument("--session", required=True)
    bot.add_argument("--name", default=None, help="display name")
    bot.add_argument("--out", default=None, help="file the bot writes (recorder: the WAV)")
    bot.add_argument(
        "--silent", action="store_true", help="metronome: only print bar:beat, no click"
    )
    bot.add_argument(
        "--write",
        action="store_true",
        help="bass, arp, pad: also keep the part written as notes on a track of its own",
    )
    bot.add_argument(
        "--relay-only",
        action="store_true",
        help="audio through the TURN relay the server names only (no direct candidates)",
    )
    _add_auth(bot, env)
    bot.set_defaults(func=_cmd_bot)

    sync = sub.add_parser("sync", help="drive your DAW from the session's timeline")
    sync_kinds = sync.add_subparsers(dest="sync", required=True)
    midi = sync_kinds.add_parser(
        "midi",
        help="MIDI clock out (24 PPQN, Start/Continue/Stop, Song Position) from the shared timeline",
    )
    midi.add_argument("url", help="server websocket URL")
    midi.add_argument("--session", required=True)
    midi.add_argument(
        "--port", default=None, help="MIDI port name (default: a virtual port 'Backline clock')"
    )
    midi.add_argument(
        "--existing", action="store_true", help="send to the existing port --port names"
    )
    midi.add_argument(
        "--offset-ms",
        type=float,
        default=0.0,
        help="your output latency: every message leaves this much early (-1000..1000)",
    )
    midi.add_argument("--dry-run", action="store_true", help="open no port (check the connection)")
    midi.add_argument(
        "--in",
        dest="follow",
        action="store_true",
        help="the other way: follow the MIDI clock arriving on --port (a drum machine or DAW"
        " as the session's tempo source; its tempo and start/stop become edits)",
    )
    _add_auth(midi, env)
    midi.set_defaults(func=_cmd_sync_midi)
    link = sync_kinds.add_parser(
        "link",
        help="lock your local Ableton Link session to the shared timeline (optional GPL bridge)",
    )
    link.add_argument("url", help="server websocket URL")
    link.add_argument("--session", required=True)
    link.add_argument(
        "--offset-ms",
        type=float,
        default=0.0,
        help="your output latency: Link runs this much early",
    )
    _add_auth(link, env)
    link.set_defaults(func=_cmd_sync_link)

    record = sub.add_parser("record", help="start or stop recording the audio room (owners)")
    record.add_argument("action", choices=["start", "stop"])
    record.add_argument("url", help="server address (ws://, http:// or HOST:PORT)")
    record.add_argument("--session", required=True)
    _add_auth(record, env)
    record.set_defaults(func=_cmd_record)

    rend = sub.add_parser(
        "render", help="bounce the project on the server to WAV files (owners and editors)"
    )
    rend.add_argument("url", help="server address (ws://, http:// or HOST:PORT)")
    rend.add_argument("--session", required=True)
    rend.add_argument(
        "--version", type=int, default=None, help="render this version (default latest)"
    )
    rend.add_argument("--out", required=True, help="directory the WAVs and render.json go to")
    rend.add_argument(
        "--stems", choices=["none", "dry", "wet"], default="none",
        help="also one WAV per track: post-fader (dry) or with its effects (wet)",
    )  # fmt: skip
    _add_auth(rend, env)
    rend.set_defaults(func=_cmd_render)

    exp = sub.add_parser(
        "export", help="write the session as a REAPER project (.rpp) with MIDI and stems"
    )
    exp.add_argument("url", help="server address (ws://, http:// or HOST:PORT)")
    exp.add_argument("--session", required=True)
    exp.add_argument(
        "--rpp", required=True, metavar="DIR",
        help="directory to write <session>.rpp and stems/ (from this version's render) into",
    )  # fmt: skip
    exp.add_argument(
        "--render", nargs="?", const="wet", choices=["dry", "wet"], default=None,
        help="render stems first if this version has none (default wet: with their effects)",
    )  # fmt: skip
    _add_auth(exp, env)
    exp.set_defaults(func=_cmd_export)

    inv = sub.add_parser("invite", help="create a personal invite link (owners)")
    inv.add_argument("url", help="server address (https://, ws://, http:// or HOST:PORT)")
    inv.add_argument("--session", required=True)
    inv.add_argument("--role", choices=[r.value for r in Role], default="editor")
    inv.add_argument("--name", default="", help="whom it is for (owners see it)")
    inv.add_argument(
        "--ttl", type=int, default=DEFAULT_INVITE_TTL, help="seconds it is valid (default a week)"
    )
    inv.add_argument("--uses", type=int, default=1, help="people it lets in (default 1)")
    _add_auth(inv, env)
    inv.set_defaults(func=_cmd_invite)

    acc = sub.add_parser("access", help="list invites and who holds access (owners)")
    acc.add_argument("url", help="server address")
    acc.add_argument("--session", required=True)
    acc.add_argument("--json", action="store_true", help="as JSON")
    _add_auth(acc, env)
    acc.set_defaults(func=_cmd_access)

    rev = sub.add_parser("revoke", help="revoke a person, an invite or a token (owners)")
    rev.add_argument("url", help="server address")
    rev.add_argument("--session", required=True)
    rev.add_argument("--person", default=None, metavar="CLIENT", help="a participant's id")
    rev.add_argument("--invite", default=None, metavar="ID", help="an invite (and its people)")
    rev.add_argument("--token-id", default=None, metavar="ID", help="a token's id (an old link)")
    _add_auth(rev, env)
    rev.set_defaults(func=_cmd_revoke)

    recs = sub.add_parser("recordings", help="list a session's recordings, or download one")
    recs.add_argument("url", help="server URL (ws:// or http://)")
    recs.add_argument("--session", required=True)
    recs.add_argument("--download", metavar="ID", default=None, help="fetch every file of ID")
    recs.add_argument("--out", default=None, help="directory for --download (default: ./ID)")
    recs.add_argument("--json", action="store_true", help="list as JSON (every sidecar)")
    _add_auth(recs, env)
    recs.set_defaults(func=_cmd_recordings)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from backline.server.logs import configure_logging

    # one-shot commands answer in one line: the SDK's warnings would say it twice
    quiet = "INFO" if args.command == "bot" else "ERROR"
    configure_logging("DEBUG" if args.debug else str(getattr(args, "log_level", quiet)))
    try:
        args.func(args)
    except BacklineError as exc:
        raise SystemExit(f"backline: {exc.code.value}: {exc.message}") from None
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `backline state … | head`: the reader left, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        raise SystemExit(0) from None
    except Exception as exc:
        if args.debug:
            raise
        what = str(exc) or type(exc).__name__
        raise SystemExit(f"backline: {what} (run with --debug for the traceback)") from None
