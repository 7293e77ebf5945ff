"""Progress on the terminal for flash and provision: one rich bar per band, on stderr.

stdout stays for the one-line results, so they can be piped or logged; on a
terminal the bars redraw in place, elsewhere rich prints them once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class BandProgress:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.fields[band]:<10} {task.description:<14}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=self.console,
        )

    def __enter__(self) -> BandProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def band(self, label: str) -> Callable[[str, int, int], None]:
        """A progress callback for one band (tools.flash.Progress)."""
        task: TaskID = self.progress.add_task("waiting", total=1, band=label)

        def update(step: str, done: int, total: int) -> None:
            self.progress.update(task, description=step, completed=done, total=max(total, 1))

        return update

    def finish(self, label: str, text: str) -> None:
        """Mark a band's bar as done (or failed) with a short word."""
        for task in self.progress.tasks:
            if task.fields.get("band") == label:
                self.progress.update(task.id, description=text, completed=task.total)

    def log(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)
