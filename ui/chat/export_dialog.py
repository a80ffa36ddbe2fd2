"""Export from the window: a conversation (Markdown, JSON) or a dataset (ShareGPT JSONL).

The formats are :mod:`app.store.export`'s, the same as ``ponder history export``. The file is
written on a pool thread (a big selection never freezes the window); the window shows the
:class:`Exporter`'s notes in its status bar.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.errors import PonderError
from app.store.export import (
    ExportCounts,
    Markers,
    left_out_note,
    write_json,
    write_markdown,
    write_sharegpt,
)
from app.user_files import open_output
from ui.qt_threads import emit_from_thread
from ui.tasks import run_task

if TYPE_CHECKING:
    from app.store.store import Store

MARKDOWN = "Markdown (*.md)"
JSON = "JSON, every branch and what Ponder injected (*.json)"
JSONL = "JSON Lines (*.jsonl)"
_SUFFIX = {MARKDOWN: ".md", JSON: ".json", JSONL: ".jsonl"}
_PROGRESS_EVERY_S = 0.25

Writer = Callable[["Store", Iterable[int], TextIO], ExportCounts]
AskPath = Callable[[str, str, list[str]], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class DatasetOptions:
    """How a dataset export is made (the CLI's ``--markers``, ``--complete-only``,
    ``--keep-injected``)."""

    markers: Markers = Markers.THINK
    complete_only: bool = True
    keep_injected: bool = False


class DatasetOptionsDialog(QDialog):
    """Markers, complete-only (on by default) and keeping injected text (off by default)."""

    def __init__(self, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        layout = QVBoxLayout(self)
        what = "conversation" if count == 1 else "conversations"
        self.intro = QLabel(
            f"Export {count} {what} as a distillation dataset: ShareGPT JSONL (the "
            "OpenThoughts shape), one line per conversation's current branch.",
            self,
        )
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        form = QFormLayout()
        self.markers = QComboBox(self)
        self.markers.addItem("<think> … </think>", Markers.THINK.value)
        self.markers.addItem(
            "Stratos: <|begin_of_thought|> … <|end_of_solution|>", Markers.STRATOS.value
        )
        form.addRow("Reasoning marked with", self.markers)
        layout.addLayout(form)
        self.complete_only = QCheckBox("Complete answers only", self)
        self.complete_only.setChecked(True)
        layout.addWidget(self.complete_only)
        layout.addWidget(
            _note(
                "Leaves out answers that were capped, cancelled, interrupted or failed, or have "
                "no reasoning, with the turns after them.",
                self,
            )
        )
        self.keep_injected = QCheckBox("Keep text Ponder injected (budget cap, Answer now)", self)
        layout.addWidget(self.keep_injected)
        layout.addWidget(
            _note(
                "Off: an answer holding such text is left out with the turns after it. "
                "The JSON export always marks it.",
                self,
            )
        )
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def options(self) -> DatasetOptions:
        return DatasetOptions(
            markers=Markers(self.markers.currentData()),
            complete_only=self.complete_only.isChecked(),
            keep_injected=self.keep_injected.isChecked(),
        )


def _note(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setIndent(20)
    label.setEnabled(False)  # drawn greyed: an explanation, not a control
    return label


class Exporter(QObject):
    """Asks where and how, then writes the export on a pool thread.

    Tests replace :attr:`ask_path` and :attr:`ask_dataset_options` (no modal dialog).

    Signals:
        progressed(str): the export started or moved on ("Exporting 120 of 500 …").
        finished(str): what was written where, and what was left out and why.
        failed(str): why nothing was written (fit to show as it is).
    """

    progressed = Signal(str)
    finished = Signal(str)
    failed = Signal(str)
    _advanced = Signal(str)  # from the pool thread; re-sent as ``progressed`` on this one

    def __init__(self, store_for_thread: Callable[[], Callable[[], Store]], parent: QWidget):
        super().__init__(parent)
        self._advanced.connect(self._on_self_advanced, Qt.ConnectionType.QueuedConnection)
        self._store_for_thread = store_for_thread
        self._parent = parent
        self._folder = Path.home()
        self.ask_path: AskPath = self._ask_path_dialog
        self.ask_dataset_options: Callable[[int], DatasetOptions | None] = self._ask_options

    def export_conversation(self, conversation_id: int, title: str) -> None:
        """Ask for a file (Markdown or JSON, by its name or the filter chosen) and write it."""
        chosen = self.ask_path("Export conversation", _file_name(title) + ".md", [MARKDOWN, JSON])
        if chosen is None:
            return
        path, kind = _target(*chosen, [MARKDOWN, JSON])
        writer: Writer = write_json if kind == JSON else write_markdown
        shown = f"“{title}”" if title else "the conversation"
        self._run(path, [conversation_id], writer, lambda _c: f"Exported {shown} to {path}.")

    def export_dataset(self, ids: list[int]) -> None:
        """Ask how and where, then write one JSONL record per conversation."""
        options = self.ask_dataset_options(len(ids))
        if options is None:
            return
        chosen = self.ask_path("Export dataset", "dataset.jsonl", [JSONL])
        if chosen is None:
            return
        path, _kind = _target(*chosen, [JSONL])

        def writer(store: Store, todo: Iterable[int], out: TextIO) -> ExportCounts:
            return write_sharegpt(
                store,
                todo,
                out,
                markers=options.markers,
                complete_only=options.complete_only,
                keep_injected=options.keep_injected,
            )

        def describe(counts: ExportCounts) -> str:
            what = "conversation" if counts.written == 1 else "conversations"
            done = f"Exported {counts.written} {what} to {path}."
            return f"{done} {left_out_note(counts)}".rstrip()

        self._run(path, ids, writer, describe)

    def _run(
        self,
        path: Path,
        ids: list[int],
        writer: Writer,
        describe: Callable[[ExportCounts], str],
    ) -> None:
        self._folder = path.parent
        store = self._store_for_thread()
        total = len(ids)
        self.progressed.emit(f"Exporting {_conversations(total)} to {path}…")

        def report(done: int) -> None:
            note = f"Exporting {done} of {_conversations(total)} to {path}…"
            emit_from_thread(self, self._advanced, note)

        def work() -> ExportCounts:
            # the file dialog asked before replacing a file
            with open_output(path, force=True) as out:
                return writer(store(), _reporting(ids, report), out)

        run_task(
            work, lambda counts: self.finished.emit(describe(counts)), self._on_failed, context=self
        )

    @Slot(str)
    def _on_self_advanced(self, note: str) -> None:
        self.progressed.emit(note)

    def _on_failed(self, err: BaseException) -> None:
        if not isinstance(err, PonderError):
            raise err  # a bug: the crash handler reports it
        self.failed.emit(f"Export failed: {err}")

    def _ask_path_dialog(self, title: str, name: str, filters: list[str]) -> tuple[str, str] | None:
        path, chosen = QFileDialog.getSaveFileName(
            self._parent,
            title,
            str(self._folder / name),
            ";;".join(filters),
            options=QFileDialog.Option.DontUseNativeDialog,
        )
        return (path, chosen) if path else None

    def _ask_options(self, count: int) -> DatasetOptions | None:
        dialog = DatasetOptionsDialog(count, self._parent)
        try:
            return dialog.options() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()


def add_export_actions(
    menu: QMenu,
    exporter: Exporter,
    *,
    conversation: tuple[int, str] | None,
    selected: list[int],
    results: list[int] | None = None,
) -> None:
    """The sidebar's context-menu entries: this conversation, the selection, all results."""
    menu.addSeparator()
    if conversation is not None:
        cid, title = conversation
        menu.addAction("Export…", lambda: exporter.export_conversation(cid, title))
    if selected:
        label = (
            "Export as dataset…" if len(selected) == 1 else f"Export {len(selected)} as dataset…"
        )
        menu.addAction(label, lambda: exporter.export_dataset(selected))
    if results:
        menu.addAction(
            f"Export all {_conversations(len(results))} found as dataset…",
            lambda: exporter.export_dataset(results),
        )


def _reporting(ids: list[int], report: Callable[[int], None]) -> Iterator[int]:
    """``ids``, calling ``report(done)`` now and then as they are taken (off the GUI thread)."""
    last = time.monotonic()
    for done, cid in enumerate(ids, start=1):
        yield cid
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY_S:
            last = now
            report(done)


def _target(path: str, chosen: str, filters: list[str]) -> tuple[Path, str]:
    """The file and its format: by the name's suffix, else by the filter chosen (its suffix
    added to a name without one)."""
    target = Path(path).expanduser()
    for kind in filters:
        if target.suffix.lower() == _SUFFIX[kind]:
            return target, kind
    kind = chosen if chosen in filters else filters[0]
    return (target if target.suffix else target.with_suffix(_SUFFIX[kind])), kind


def _file_name(title: str) -> str:
    """A file name from a conversation title (no separators or control characters)."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title).strip(" .")
    return re.sub(r"\s+", " ", name)[:80] or "conversation"


def _conversations(n: int) -> str:
    return f"{n} conversation" if n == 1 else f"{n} conversations"
