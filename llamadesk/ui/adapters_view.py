"""The Adapters panel: LoRA adapters grouped under their base model; import (button or drop),
merge into a new complete model, remove, and a side-by-side comparison of replies. Damaged adapters
(manifest unreadable, so their base is unknown) are listed in a group of their own, with the reason in
their details and Remove enabled: their names stay taken until they are removed.

Signals: adapters_changed() after an import or removal; library_changed() after a merge adds a
model; status_message(text) for the status bar."""

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import adapters, library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.headings import ENTRY, SectionTitle, facts_table, heading_html
from llamadesk.ui.kinds import kind_label
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task

BASE_ROLE = Qt.ItemDataRole.UserRole
ADAPTER_ROLE = Qt.ItemDataRole.UserRole + 1
DAMAGED_ROLE = Qt.ItemDataRole.UserRole + 2


def _clear(layout: QHBoxLayout) -> None:
    while layout.count():
        widget = layout.takeAt(0).widget()
        if widget is not None:
            widget.deleteLater()


class ImportAdapterDialog(QDialog):
    """Choose the base model an adapter folder belongs to, and its name in the library."""

    def __init__(self, src: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Import adapter"))
        self.base_combo = QComboBox()
        self.base_combo.setAccessibleName(self.tr("Base model"))
        for entry in library.list_models():
            self.base_combo.addItem(entry.id)
        self.name_edit = QLineEdit(src.name)
        self.name_edit.setAccessibleName(self.tr("Adapter name"))
        form = QFormLayout(self)
        form.addRow(self.tr("Folder:"), QLabel(str(src)))
        form.addRow(self.tr("Base model:"), self.base_combo)
        form.addRow(self.tr("Name:"), self.name_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class AdaptersView(QWidget):
    adapters_changed = Signal()
    library_changed = Signal()
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels([self.tr("Base model / adapter"), self.tr("Kind"), self.tr("Rank")])
        self.tree.setAccessibleName(self.tr("Adapters by base model"))
        header = self.tree.header()  # names take what is left; kind and rank are never cut
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_selection_changed)

        self.import_button = QPushButton(self.tr("Import adapter…"))
        self.import_button.clicked.connect(self._on_import_clicked)
        self.merge_button = QPushButton(self.tr("Merge into new model…"))
        self.merge_button.setToolTip(
            self.tr("Bake the adapter into its base and add the result to the library")
        )
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.clicked.connect(self._on_remove_clicked)

        hint = QLabel(self.tr("Drop a PEFT adapter folder here to import it."))
        hint.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(SectionTitle(self.tr("Adapters")))
        left_layout.addWidget(self.tree, 1)
        left_layout.addWidget(hint)
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addWidget(self.merge_button)
        row.addWidget(self.remove_button)
        left_layout.addLayout(row)

        self.details = QTextBrowser()
        self.details.setAccessibleName(self.tr("Adapter details"))

        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText(self.tr("A prompt to send to every checked variant"))
        self.prompt_edit.setAccessibleName(self.tr("Comparison prompt"))
        self.prompt_edit.setMaximumHeight(70)
        self.variant_box = QWidget()
        self.variant_layout = QHBoxLayout(self.variant_box)
        self.variant_layout.setContentsMargins(0, 0, 0, 0)
        self.compare_button = QPushButton(self.tr("Compare replies"))
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.replies_area = QScrollArea()
        self.replies_area.setWidgetResizable(True)
        self.replies_widget = QWidget()
        self.replies_layout = QHBoxLayout(self.replies_widget)
        self.replies_area.setWidget(self.replies_widget)
        compare = QGroupBox(self.tr("Compare side by side"))
        compare_layout = QVBoxLayout(compare)
        compare_layout.addWidget(self.prompt_edit)
        compare_layout.addWidget(self.variant_box)
        compare_layout.addWidget(self.compare_button)
        compare_layout.addWidget(self.replies_area, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.details)
        right.addWidget(compare)
        right.setStretchFactor(1, 2)

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(self._on_busy_changed)
        self.task_bar.cancelled.connect(
            lambda: self.status_message.emit(self.tr("Cancelled; nothing was changed."))
        )

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.task_bar)
        self.refresh()

    # -- list -----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected_adapter_id()
        self.tree.clear()
        by_base: dict[str, list[adapters.AdapterEntry]] = {}
        for entry in adapters.list_adapters():
            by_base.setdefault(entry.manifest.get("base_id", "?"), []).append(entry)
        for model in library.list_models():
            by_base.setdefault(model.id, [])
        for base_id in sorted(by_base):
            base_item = QTreeWidgetItem([base_id, self.tr("base model"), ""])
            base_item.setData(0, BASE_ROLE, base_id)
            self.tree.addTopLevelItem(base_item)
            for entry in by_base[base_id]:
                child = QTreeWidgetItem(
                    [
                        entry.id,
                        kind_label(entry.manifest.get("kind")),
                        str(entry.manifest.get("rank", "")),
                    ]
                )
                child.setData(0, BASE_ROLE, base_id)
                child.setData(0, ADAPTER_ROLE, entry.id)
                base_item.addChild(child)
                if entry.id == selected:
                    self.tree.setCurrentItem(child)
            base_item.setExpanded(True)
        damaged = adapters.damaged_adapters()
        if damaged:
            group = QTreeWidgetItem([self.tr("Damaged adapters"), "", ""])
            self.tree.addTopLevelItem(group)
            for entry in damaged:
                child = QTreeWidgetItem([entry.id, self.tr("damaged"), ""])
                child.setData(0, ADAPTER_ROLE, entry.id)
                child.setData(0, DAMAGED_ROLE, True)
                child.setToolTip(0, entry.reason)
                group.addChild(child)
                if entry.id == selected:
                    self.tree.setCurrentItem(child)
            group.setExpanded(True)
        self._on_selection_changed(self.tree.currentItem(), None)

    def selected_adapter_id(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, ADAPTER_ROLE) if item else None

    def selected_base_id(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, BASE_ROLE) if item else None

    def _on_selection_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        adapter_id = current.data(0, ADAPTER_ROLE) if current else None
        self.merge_button.setEnabled(adapter_id is not None and not current.data(0, DAMAGED_ROLE))
        self.remove_button.setEnabled(adapter_id is not None)
        self._show_details(adapter_id)
        self._fill_variants(current.data(0, BASE_ROLE) if current else None)

    def _show_details(self, adapter_id: str | None) -> None:
        if adapter_id is None:
            self.details.setHtml(
                self.tr("<p>Select an adapter to see where it came from and how it was made.</p>")
            )
            return
        try:
            manifest = adapters.get_adapter(adapter_id).manifest
        except LlamaDeskError as exc:  # a damaged adapter: why, and Remove stays enabled
            self.details.setPlainText(str(exc))
            return
        rows = [
            (self.tr("Base model"), manifest.get("base_id")),
            (self.tr("Kind"), kind_label(manifest.get("kind"))),
            (
                self.tr("Rank / alpha / dropout"),
                f"{manifest.get('rank')} / {manifest.get('alpha')} / {manifest.get('dropout')}",
            ),
            (self.tr("Target modules"), ", ".join(manifest.get("target_modules") or [])),
            (
                self.tr("Trained on"),
                json.dumps(manifest.get("data_summary"), ensure_ascii=False)
                if manifest.get("data_summary")
                else "—",
            ),
            (self.tr("Final loss"), manifest.get("final_loss", "—")),
            (
                self.tr("Scores"),
                json.dumps(manifest.get("scores"), ensure_ascii=False) if manifest.get("scores") else "—",
            ),
            (self.tr("Created"), manifest.get("created")),
        ]
        self.details.setHtml(f"<p>{heading_html(adapter_id, ENTRY)}</p>{facts_table(rows)}")

    def _fill_variants(self, base_id: str | None) -> None:
        _clear(self.variant_layout)
        self.compare_button.setEnabled(base_id is not None)
        if base_id is None:
            return
        variants: list[tuple[str, str | None]] = [(self.tr("Base model"), None)]
        variants += [(a.id, a.id) for a in adapters.list_adapters(base_id)]
        for label, adapter_id in variants:
            box = QCheckBox(label)
            box.setProperty("adapter_id", adapter_id)
            box.setChecked(True)
            self.variant_layout.addWidget(box)
        self.variant_layout.addStretch(1)

    def checked_variants(self) -> list[str | None]:
        boxes = [self.variant_layout.itemAt(i).widget() for i in range(self.variant_layout.count())]
        return [b.property("adapter_id") for b in boxes if isinstance(b, QCheckBox) and b.isChecked()]

    def _on_busy_changed(self, busy: bool) -> None:
        for button in (self.import_button, self.merge_button, self.remove_button, self.compare_button):
            button.setEnabled(not busy)
        if not busy:
            self._on_selection_changed(self.tree.currentItem(), None)

    def shutdown(self) -> None:
        self.task_bar.shutdown()

    # -- import / remove / merge / compare ------------------------------------------------------------

    def _on_import_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a PEFT adapter folder"))
        if folder:
            self._ask_and_import(Path(folder))

    def _ask_and_import(self, src: Path) -> None:
        dialog = ImportAdapterDialog(src, self)
        if self.selected_base_id():
            dialog.base_combo.setCurrentText(self.selected_base_id())
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_import(src, dialog.base_combo.currentText(), dialog.name_edit.text().strip() or None)

    def start_import(self, src: Path, base_id: str, name: str | None = None) -> Task | None:
        return self.task_bar.start(
            self.tr("Importing {0}…").format(src.name),
            lambda progress: adapters.import_adapter(src, base_id, name, progress=progress),
            self._on_import_succeeded,
        )

    def _on_import_succeeded(self, entry: adapters.AdapterEntry) -> None:
        self.status_message.emit(self.tr("Imported adapter {0}.").format(entry.id))
        self.refresh()
        self.adapters_changed.emit()

    def _on_remove_clicked(self) -> None:
        adapter_id = self.selected_adapter_id()
        if adapter_id is None:
            return
        if confirm(
            self,
            self.tr("Remove adapter"),
            self.tr("Remove the adapter '{0}'? Its files are deleted.").format(adapter_id),
        ):
            self.remove_adapter(adapter_id)

    def remove_adapter(self, adapter_id: str) -> None:
        try:
            adapters.remove_adapter(adapter_id)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
        self.refresh()
        self.adapters_changed.emit()

    def _on_merge_clicked(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        adapter_id = self.selected_adapter_id()
        if adapter_id is None:
            return
        name, ok = QInputDialog.getText(
            self,
            self.tr("Merge adapter"),
            self.tr("Name of the new complete model:"),
            text=f"{adapter_id}-merged",
        )
        if ok and name.strip():
            self.start_merge(adapter_id, name.strip())

    def start_merge(self, adapter_id: str, name: str) -> Task | None:
        from llamadesk.core.merge import merge_adapter

        return self.task_bar.start(
            self.tr("Merging {0} into a new model…").format(adapter_id),
            lambda progress: merge_adapter(adapter_id, name, progress=progress),
            self._on_merge_succeeded,
        )

    def _on_merge_succeeded(self, entry: library.ModelEntry) -> None:
        self.status_message.emit(self.tr("Created the complete model {0}.").format(entry.id))
        self.refresh()
        self.library_changed.emit()

    def _on_compare_clicked(self) -> None:
        prompt = self.prompt_edit.toPlainText().strip()
        base_id = self.selected_base_id()
        variants = self.checked_variants()
        if not prompt or base_id is None or not variants:
            show_error(self, self.tr("Write a prompt and check at least one variant to compare."))
            return
        self.start_compare(base_id, variants, prompt)

    def start_compare(self, base_id: str, variants: list[str | None], prompt: str) -> Task | None:
        from llamadesk.core.compare import compare_replies
        from llamadesk.core.generation import GenerationSettings

        messages = [{"role": "user", "content": prompt}]
        settings = GenerationSettings(temperature=0.0, max_new_tokens=256)
        return self.task_bar.start(
            self.tr("Generating replies…"),
            lambda progress: compare_replies(base_id, variants, messages, settings, progress=progress),
            self._on_compare_succeeded,
        )

    def _on_compare_succeeded(self, replies: list[dict]) -> None:
        _clear(self.replies_layout)
        for reply in replies:
            column = QGroupBox(reply.get("adapter_id") or self.tr("Base model"))
            column_layout = QVBoxLayout(column)
            text = QTextBrowser()
            text.setMarkdown(reply["text"])
            column_layout.addWidget(text)
            self.replies_layout.addWidget(column)

    # -- drag and drop -------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                self._ask_and_import(Path(url.toLocalFile()))
                break
        event.acceptProposedAction()
