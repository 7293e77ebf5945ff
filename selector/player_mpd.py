"""MPD (Music Player Daemon) as the selector's player, through python-mpd2.

One connection, on a thread of its own with its own event loop: python-mpd2's
asyncio client idles on MPD's `player`, `playlist` and `database` subsystems
and leaves idle by itself to send commands.  What it does:

- follows MPD's idle events for what plays and since when (status `elapsed`),
  and tells the selector (`PlayerEvents.playing`);
- keeps MPD's queue one track ahead: after the current song, exactly the track
  the selector wants next (auto; assist once there is an approved pick or a
  pin), deleting what no longer belongs there (a veto, a new pin);
- in auto mode, starts the set when MPD is stopped;
- when MPD cannot be reached: one line in the log, retries with backoff
  (1 s doubling to 30 s), and the console shows it (`status()`).  What the
  artist did meanwhile is in the selector; the first sync after reconnecting
  applies it.

The selector owns MPD's queue: on connect it switches on `consume` (played
songs leave the queue) and switches off `random`, `repeat` and `single`.
Library tracks are matched to MPD's files by path (the library is the folder
MPD serves), else by artist and title.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from pathlib import PurePosixPath
from typing import Any

import mpd
import mpd.asyncio

from crowdpulse.selector.library import Track
from crowdpulse.selector.player import PlayerEvents, Want

log = logging.getLogger("crowdpulse.player")
BACKOFF_MAX_S = 30.0
CONNECT_TIMEOUT_S = 5.0
FAILURES = (OSError, mpd.ConnectionError, mpd.ProtocolError, asyncio.TimeoutError)


class Catalogue:
    """Library tracks <-> MPD's files."""

    def __init__(self, tracks: list[Track]) -> None:
        self.tracks = tracks
        self.file_of: dict[str, str] = {}
        self.track_of: dict[str, str] = {}

    def index(self, songs: list[dict[str, Any]]) -> int:
        by_name: dict[str, list[Track]] = {}
        for t in self.tracks:
            if t.source:
                by_name.setdefault(
                    PurePosixPath(t.source.replace("\\", "/")).name.lower(), []
                ).append(t)
        by_tags = {(t.artist.strip().lower(), t.title.strip().lower()): t for t in self.tracks}
        self.file_of, self.track_of = {}, {}
        for s in songs:
            f = s.get("file")
            if not isinstance(f, str):
                continue
            hit = self._match(f, s, by_name, by_tags)
            if hit is not None and hit.id not in self.file_of:
                self.file_of[hit.id], self.track_of[f] = f, hit.id
        return len(self.file_of)

    @staticmethod
    def _match(
        f: str,
        song: dict[str, Any],
        by_name: dict[str, list[Track]],
        by_tags: dict[tuple[str, str], Track],
    ) -> Track | None:
        for t in by_name.get(PurePosixPath(f).name.lower(), []):
            if t.source.replace("\\", "/").endswith("/" + f) or t.source == f:
                return t
        artist, title = _tag(song.get("artist")), _tag(song.get("title"))
        return (
            by_tags.get((artist.strip().lower(), title.strip().lower()))
            if artist and title
            else None
        )


def _tag(v: Any) -> str:
    return str(v[0] if isinstance(v, list) and v else v or "")


class MpdPlayer:
    name = "mpd"
    can_queue = True

    def __init__(self, host: str, port: int, tracks: list[Track], note: str = "") -> None:
        self.host, self.port, self.note = host, port, note
        self.catalogue = Catalogue(tracks)
        self._want: Want | None = None
        self._events: PlayerEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._halt: asyncio.Event | None = None  # stop(): ends a backoff wait early
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._connected = False
        self._error: str | None = None
        self._retry_at: float | None = None
        self._reported: str | None = None  # MPD's songid we last told the selector about
        self._ours: set[str] = set()  # songids this player added
        self._changes: set[str] = set()

    # -- the interface ---------------------------------------------------------
    def start(self, events: PlayerEvents) -> None:
        self._events = events
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name="mpd", daemon=True)
        self._thread.start()
        ready.wait(5)

    def want(self, want: Want) -> None:
        self._want = want
        self._poke()

    def status(self) -> dict[str, Any]:
        retry = (
            None
            if self._retry_at is None
            else max(0.0, round(self._retry_at - time.monotonic(), 1))
        )
        return {
            "backend": self.name,
            "address": f"{self.host}:{self.port}",
            "connected": self._connected,
            "error": self._error,
            "retry_in_s": retry,
            "note": self.note,
        }

    def stop(self) -> None:
        self._stopping = True
        self._poke(self._halt)
        self._poke()
        if self._thread is not None:
            self._thread.join(5)

    def _poke(self, event: asyncio.Event | None = None) -> None:
        loop, ev = self._loop, event or self._wake
        if loop is not None and ev is not None and not loop.is_closed():
            # RuntimeError: the loop closed in between, so we are stopping
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)

    # -- the connection ----------------------------------------------------------
    def _main(self, ready: threading.Event) -> None:
        asyncio.run(self._run(ready))

    async def _run(self, ready: threading.Event) -> None:
        self._loop, self._wake, self._halt = (
            asyncio.get_running_loop(),
            asyncio.Event(),
            asyncio.Event(),
        )
        # python-mpd2 reports a lost connection to its idle callback too; the
        # session below already deals with it, so no traceback in the log
        self._loop.set_exception_handler(
            lambda _loop, ctx: log.debug("mpd: %s", ctx.get("exception"))
        )
        ready.set()
        delay = 1.0
        while not self._stopping:
            client = mpd.asyncio.MPDClient()
            try:
                await asyncio.wait_for(client.connect(self.host, self.port), CONNECT_TIMEOUT_S)
                await self._session(client)
                why = "connection closed"
            except FAILURES as exc:
                why = _describe(exc)
            except mpd.CommandError as exc:  # MPD refused a command (permissions, say)
                why = f"MPD refused a command: {exc}"
            except Exception as exc:  # noqa: BLE001 - the player must outlive any one session
                why = f"{type(exc).__name__}: {exc}"
            finally:
                client.disconnect()
            if self._stopping:
                break
            was, first = self._connected, self._error is None
            self._connected = False
            if was:
                delay = 1.0  # it worked for a while: a fresh failure
                log.warning(
                    "player: lost MPD at %s:%d (%s); retrying with backoff",
                    self.host,
                    self.port,
                    why,
                )
            elif first:
                log.warning(
                    "player: MPD at %s:%d unreachable (%s); retrying with backoff",
                    self.host,
                    self.port,
                    why,
                )
            wait = delay * random.uniform(0.8, 1.2)
            self._error, self._retry_at = why, time.monotonic() + wait
            self._status_changed()
            await self._sleep(wait)
            delay = min(delay * 2.0, BACKOFF_MAX_S)

    async def _sleep(self, seconds: float) -> None:
        assert self._halt is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), seconds)

    async def _session(self, c: mpd.asyncio.MPDClient) -> None:
        for option, value in (("consume", 1), ("random", 0), ("repeat", 0), ("single", 0)):
            await getattr(c, option)(value)
        matched = self.catalogue.index(await c.listallinfo())
        if self._error is not None:
            log.info("player: MPD at %s:%d is back", self.host, self.port)
        self._connected, self._error, self._retry_at = True, None, None
        self._ours, self._reported = set(), None
        log.info(
            "player: MPD at %s:%d, %d library tracks in its database", self.host, self.port, matched
        )
        self._status_changed()
        assert self._wake is not None
        watcher = asyncio.create_task(self._watch(c))
        try:
            while not self._stopping:
                # before reading what is wanted: a want that comes meanwhile wakes us again
                self._wake.clear()
                await self._report(c)
                await self._sync(c)
                if watcher.done():
                    watcher.result()  # raises what ended it
                    return
                await self._wake.wait()
                if "database" in self._changes:
                    self.catalogue.index(await c.listallinfo())
                self._changes.clear()
        finally:
            watcher.cancel()

    async def _watch(self, c: mpd.asyncio.MPDClient) -> None:
        assert self._wake is not None
        try:
            async for changed in c.idle(["player", "playlist", "database"]):
                self._changes.update(changed)
                self._wake.set()
        finally:
            self._wake.set()  # the session notices that the watcher is gone

    # -- what plays ----------------------------------------------------------------
    async def _report(self, c: mpd.asyncio.MPDClient) -> None:
        status = await c.status()
        songid = status.get("songid") if status.get("state") in ("play", "pause") else None
        if songid == self._reported:
            return
        self._reported = songid
        if songid is None:
            self._emit(None, time.time())
            return
        song = await c.currentsong()
        started = time.time() - float(status.get("elapsed", 0.0) or 0.0)
        track_id = self.catalogue.track_of.get(str(song.get("file", "")))
        if track_id is None and self._events is not None:
            self._events.unknown(self.name, str(song.get("file", "?")))
        self._emit(track_id, started)

    def _emit(self, track_id: str | None, started: float) -> None:
        if self._events is not None:
            self._events.playing(track_id, started, self.name)

    async def _sync(self, c: mpd.asyncio.MPDClient) -> None:
        """Make MPD's queue after the current song what the selector wants."""
        w = self._want
        if w is None:
            return
        status, queue = await c.status(), await c.playlistinfo()
        playing = status.get("state") in ("play", "pause") and "song" in status
        cur = int(status["song"]) if playing else -1
        if w.play_now is not None and w.play_now != self.catalogue.track_of.get(
            _file_at(queue, cur)
        ):
            f = self._file(
                w.play_now
            )  # (one MPD lacks: the selector hears so, and the queue goes on)
            if f is not None:
                await c.playid(await self._add(c, f, cur + 1 if playing else None))
                return  # the player event that follows brings the rest
        if w.mode == "manual":
            return  # the artist drives MPD: nothing is changed
        want = self._file(w.next_id) if w.next_id else None
        after = [s for s in queue if int(s["pos"]) > cur]
        keep = bool(want and after and after[0]["file"] == want)
        for s in after[1:] if keep else after:
            if w.mode == "auto" or want is not None or s["id"] in self._ours:
                await c.deleteid(s["id"])
                self._ours.discard(s["id"])
        if want is not None and not keep:
            new = await self._add(c, want, cur + 1 if playing else None)
            if not playing and w.mode == "auto":
                await c.playid(new)  # auto mode starts the set

    async def _add(self, c: mpd.asyncio.MPDClient, f: str, pos: int | None) -> str:
        songid = str(await (c.addid(f) if pos is None else c.addid(f, pos)))
        self._ours.add(songid)
        return songid

    def _file(self, track_id: str) -> str | None:
        f = self.catalogue.file_of.get(track_id)
        if f is None and self._events is not None:
            self._events.unplayable(track_id, "not in MPD's database")
        return f

    def _status_changed(self) -> None:
        if self._events is not None:
            self._events.status_changed()


def _file_at(queue: list[dict[str, Any]], pos: int) -> str:
    for s in queue:
        if int(s["pos"]) == pos:
            return str(s["file"])
    return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    # a dying MPD may close the socket (mpd's ConnectionError) or reset it,
    # depending on whether its last bytes were read first: both are a lost connection
    if isinstance(exc, mpd.ConnectionError | ConnectionResetError | BrokenPipeError):
        return "connection lost"
    return str(exc) or type(exc).__name__
