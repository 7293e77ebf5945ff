"""What a player backend is to the selector: a small interface, so that MPD,
the demo's simulated deck and Mixxx (now playing only) fit the same slot.

The selector says what it wants (`Want`): the mode, the track that plays next
and, when the artist pressed play on a track, that track now.  The backend
does what it can of that and reports back what really plays (`PlayerEvents`);
the selector believes the player, not its own clock.  docs/selector.md has a
table of what each backend can and cannot do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Want:
    mode: str  # auto | assist | manual
    next_id: str | None  # the pinned track, else the first in the queue
    play_now: str | None = None  # the artist started this one from the console


class PlayerEvents(Protocol):
    def playing(self, track_id: str | None, started_at: float, source: str) -> None:
        """This track plays since started_at (unix s); None: nothing plays."""

    def unplayable(self, track_id: str, why: str) -> None:
        """The player cannot play this track (not in its library, say)."""

    def unknown(self, source: str, what: str) -> None:
        """The player plays something that is not in the selector's library."""

    def status_changed(self) -> None:
        """Connected, lost, retrying: the console should show it now."""


class Player(Protocol):
    name: str  # "mpd", "deck", "mixxx": also the `source` of now playing
    can_queue: bool  # False: it only says what plays (Mixxx)

    def start(self, events: PlayerEvents) -> None: ...

    def want(self, want: Want) -> None:
        """Never blocks: the backend applies it on its own thread, soon."""

    def status(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...
