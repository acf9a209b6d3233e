"""The Models panel: the library list, import (button or drag-and-drop), and a model's details with
its parameter breakdown. Imports run as a background Task with progress and cancel. A damaged model
(its manifest unreadable) is listed too, marked, with the reason in its details and Remove enabled:
its name stays taken until it is removed.

Signals: library_changed() after an import or removal; status_message(text) for the status bar."""

import html
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
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import library, memory_plan
from llamadesk.core.errors import LlamaDeskError
from llamadesk.ui.dialogs import confirm, show_error
from llamadesk.ui.headings import PAGE, SectionTitle, facts_table, heading_html
from llamadesk.ui.sizes import human_bytes
from llamadesk.ui.task_bar import TaskBar
from llamadesk.ui.tasks import Task


class ImportDialog(QDialog):
    """Name the imported model; a Hugging Face folder may be referenced in place instead of copied.

    For a GGUF file, or a folder with a config.json, the memory it would need to chat and to train
    is read from its headers on a worker thread and shown before anything is imported."""

    def __init__(self, src: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Import model"))
        self.name_edit = QLineEdit(library.derive_id(src))
        self.name_edit.setAccessibleName(self.tr("Model name"))
        self.in_place = QCheckBox(self.tr("Use the folder where it is (do not copy)"))
        self.in_place.setEnabled(src.is_dir() and (src / "config.json").is_file())
        self.memory_label = QLabel(self.tr("Reading what it needs…"))
        self.memory_label.setWordWrap(True)
        self.memory_label.setMinimumWidth(420)
        self.memory_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout(self)
        form.addRow(self.tr("Source:"), QLabel(str(src)))
        form.addRow(self.tr("Name:"), self.name_edit)
        form.addRow("", self.in_place)
        self._plan_task: Task | None = None
        if src.is_file() or (src / "config.json").is_file():
            form.addRow(self.tr("Memory:"), self.memory_label)
            self._plan_task = Task(lambda _progress: memory_plan.plan_for_path(src), self)
            self._plan_task.succeeded.connect(self._on_plan_ready)
            self._plan_task.failed.connect(self._on_plan_failed)
            self._plan_task.start()
        else:  # a Meta release or something that is no model: the import says what it is
            self.memory_label.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _on_plan_ready(self, plan: memory_plan.MemoryPlan) -> None:
        self.memory_label.setText(plan.text())

    def _on_plan_failed(self, message: str) -> None:
        self.memory_label.setText(self.tr("What it needs could not be read: {0}").format(message))

    def done(self, result: int) -> None:
        """Close once the header read has ended (it takes milliseconds): its thread must not
        outlive the dialog that owns it."""
        if self._plan_task is not None:
            self._plan_task.wait()
        super().done(result)


class ModelsView(QWidget):
    library_changed = Signal()
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)

        self.model_list = QListWidget()
        self.model_list.setAccessibleName(self.tr("Library models"))
        self.model_list.currentItemChanged.connect(self._on_selection_changed)
        self.model_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.model_list.customContextMenuRequested.connect(self._on_context_menu)

        self.import_folder_button = QPushButton(self.tr("Import folder…"))
        self.import_folder_button.setToolTip(
            self.tr("A Hugging Face model folder or Meta's original release")
        )
        self.import_folder_button.clicked.connect(self._on_import_folder_clicked)
        self.import_file_button = QPushButton(self.tr("Import GGUF…"))
        self.import_file_button.clicked.connect(self._on_import_file_clicked)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.remove_button.setEnabled(False)

        self.task_bar = TaskBar()
        self.task_bar.busy_changed.connect(self._on_busy_changed)
        self.task_bar.cancelled.connect(
            lambda: self.status_message.emit(self.tr("Import cancelled; the library is unchanged."))
        )

        hint = QLabel(self.tr("Drop a model folder or a .gguf file here to import it."))
        hint.setWordWrap(True)
        hint.setObjectName("hint")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(SectionTitle(self.tr("Library")))
        left_layout.addWidget(self.model_list, 1)
        left_layout.addWidget(hint)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_folder_button)
        buttons.addWidget(self.import_file_button)
        buttons.addWidget(self.remove_button)
        left_layout.addLayout(buttons)

        self.title = QLabel()
        self.title.setObjectName("modelTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.RichText)
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.quantization_box = QComboBox()
        self.quantization_box.setAccessibleName(self.tr("Weights on a CPU"))
        self.quantization_box.setToolTip(
            self.tr(
                "How the model's weights are held in memory when it runs on a CPU, from its next load. "
                "The files on disk stay full precision; training and merging always use them."
            )
        )
        for mode, label in (
            ("none", self.tr("Full precision")),
            ("int8", self.tr("int8: faster, quality nearly unchanged")),
            ("int4", self.tr("int4: fastest and smallest, may lose a little more quality")),
        ):
            self.quantization_box.addItem(label, mode)
        self.quantization_box.setEnabled(False)
        self.quantization_box.activated.connect(self._on_quantization_chosen)
        self.quantize_button = QPushButton(self.tr("Quantise for chat…"))
        self.quantize_button.setToolTip(
            self.tr(
                "Write a GGUF file beside this float model so it chats through llama.cpp: "
                "faster and in far less memory. The float weights stay for training and merging."
            )
        )
        self.quantize_button.setEnabled(False)
        self.quantize_button.clicked.connect(self._on_quantize_clicked)
        quantization_row = QHBoxLayout()
        quantization_row.addWidget(SectionTitle(self.tr("Weights on a CPU (torch engine)")))
        quantization_row.addWidget(self.quantization_box, 1)
        quantization_row.addWidget(self.quantize_button)
        self.breakdown = QTableWidget(0, 3)
        self.breakdown.setAccessibleName(self.tr("Parameter breakdown"))
        self.breakdown.setHorizontalHeaderLabels(
            [self.tr("Component"), self.tr("Formula"), self.tr("Parameters")]
        )
        self.breakdown.verticalHeader().hide()
        self.breakdown.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.breakdown.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.totals = QLabel()
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setWordWrap(True)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.facts)
        right_layout.addLayout(quantization_row)
        right_layout.addWidget(self.breakdown, 1)
        right_layout.addWidget(self.totals)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.task_bar)
        self.refresh()

    # -- library list ---------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        current = select or (
            self.model_list.currentItem().data(Qt.ItemDataRole.UserRole)
            if self.model_list.currentItem()
            else None
        )
        self.model_list.clear()
        items = []
        for entry in library.list_models():
            params = entry.manifest.get("counted_parameters")
            size = f"{params / 1e6:,.1f}M" if params else "?"
            items.append((entry.id, f"{entry.id}\n{entry.manifest.get('format', '?')} · {size}"))
        items += [
            (damaged.id, self.tr("{0}\ndamaged").format(damaged.id)) for damaged in library.damaged_models()
        ]
        for model_id, text in sorted(items):
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, model_id)
            self.model_list.addItem(item)
            if model_id == current:
                self.model_list.setCurrentItem(item)
        if self.model_list.currentItem() is None and self.model_list.count():
            self.model_list.setCurrentRow(0)
        if not self.model_list.count():
            self._show_details(None)

    def selected_id(self) -> str | None:
        item = self.model_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _on_selection_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        self._show_details(current.data(Qt.ItemDataRole.UserRole) if current else None)

    def _show_details(self, model_id: str | None) -> None:
        self.remove_button.setEnabled(model_id is not None)
        self.quantization_box.setEnabled(False)
        self.quantize_button.setEnabled(False)
        self.breakdown.setRowCount(0)
        if model_id is None:
            self.title.setText(heading_html(self.tr("No model selected"), PAGE))
            self.facts.setText(self.tr("Import a model to get started."))
            self.totals.clear()
            return
        try:
            info = library.model_info(library.get_model(model_id))
        except LlamaDeskError as exc:  # a damaged model: why, and Remove stays enabled
            self.title.setText(heading_html(model_id, PAGE))
            self.facts.setText(html.escape(str(exc)))
            self.totals.clear()
            return
        self.title.setText(heading_html(info["id"], PAGE))
        self.quantization_box.setCurrentIndex(max(self.quantization_box.findData(info["quantization"]), 0))
        self.quantization_box.setEnabled(True)
        self.quantize_button.setEnabled(info["format"] != "gguf" and not self.task_bar.is_busy())
        lineage = info.get("lineage")
        storage = self.tr("in place") if info["in_place"] else self.tr("copied")
        rows = [
            (self.tr("Architecture"), f"{info['architecture']} ({info['model_type']})"),
            (self.tr("Context length"), self.tr("{0} tokens").format(f"{info['context_length']:,}")),
            (self.tr("Imported from"), f"{info['format']} · {info['source']}"),
            (self.tr("Weights"), f"{info['dtype'] or '?'} · {storage}"),
            (self.tr("SHA-256"), (info["sha256"] or "")[:16] + "…"),
            (self.tr("Added"), info["created"] or ""),
        ]
        if lineage:
            rows.append(
                (self.tr("Lineage"), " + ".join(str(v) for k, v in lineage.items() if k != "base_sha256"))
            )
        # Each reason names its engine ("llama.cpp runs the GGUF file as it is"); a sentence that
        # starts with a lower-case word other than llama.cpp's own name starts upper-case here.
        reason = info["engine_reason"]
        if not reason.startswith("llama.cpp"):
            reason = reason[:1].upper() + reason[1:]
        rows.append((self.tr("Chat engine"), html.escape(reason)))
        rows += self._memory_rows(info["memory_plan"], info["memory_plan_error"])
        self.facts.setText(facts_table(rows))

        components = info["parameters"]["breakdown"]["components"]
        # Core names components in English (they key the JSON and the CLI); projection names stay
        # as the weights call them.
        names = {
            "token embeddings": self.tr("token embeddings"),
            "attention q_proj": self.tr("attention q_proj"),
            "attention k_proj": self.tr("attention k_proj"),
            "attention v_proj": self.tr("attention v_proj"),
            "attention o_proj": self.tr("attention o_proj"),
            "MLP gate_proj (SwiGLU)": self.tr("MLP gate_proj (SwiGLU)"),
            "MLP up_proj (SwiGLU)": self.tr("MLP up_proj (SwiGLU)"),
            "MLP down_proj": self.tr("MLP down_proj"),
            "RMSNorms (input + post-attention)": self.tr("RMSNorms (input + post-attention)"),
            "final RMSNorm": self.tr("final RMSNorm"),
            "LM head": self.tr("LM head"),
        }
        formulas = {"tied to token embeddings": self.tr("tied to token embeddings")}
        self.breakdown.setRowCount(len(components))
        for row, c in enumerate(components):
            formula = formulas.get(c["formula"], c["formula"]) + (
                self.tr(" × {0} layers").format(c["repeats"]) if c["repeats"] > 1 else ""
            )
            count = QTableWidgetItem(f"{c['total']:,}")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.breakdown.setItem(row, 0, QTableWidgetItem(names.get(c["name"], c["name"])))
            self.breakdown.setItem(row, 1, QTableWidgetItem(formula))
            self.breakdown.setItem(row, 2, count)
        params = info["parameters"]
        verdict = self.tr("equal ✔") if params["match"] else self.tr("DIFFERENT ✘")
        memory = " · ".join(f"{k} {human_bytes(v)}" for k, v in info["memory_bytes"].items())
        kv = human_bytes(info["kv_cache_bytes_per_token"]["bf16"])
        self.totals.setText(
            self.tr(
                "<b>Total by formula:</b> {0} &nbsp; <b>Counted from weights:</b> {1} ({2})<br>"
                "<b>Weights at each precision:</b> {3}<br><b>KV cache:</b> {4} per token of context (bf16)"
            ).format(f"{params['formula']:,}", f"{params['counted']:,}", verdict, memory, kv)
        )

    def _memory_rows(self, plan: dict | None, error: str | None) -> list[tuple[str, str]]:
        """What the model needs to chat and to train against this computer's RAM, with the verdict."""
        if plan is None:
            return [(self.tr("Memory"), html.escape(error or ""))]
        gib = memory_plan.format_gib
        total, chat, train = gib(plan["total_ram"]), gib(plan["chat_bytes"]), gib(plan["train_bytes"])
        if plan["fits_chat"]:
            chat_text = self.tr("About {0}: fits in the {1} this computer has ✔").format(chat, total)
        else:
            chat_text = self.tr("About {0}: more than the {1} this computer has can spare ✘").format(
                chat, total
            )
        if plan["fits_train"]:
            train_text = self.tr("About {0} for a LoRA with the default settings: fits ✔").format(train)
        elif plan["train_suggestion_bytes"]:
            train_text = self.tr(
                "About {0} for a LoRA with the default settings: too much ✘; about {1} with smaller ones"
            ).format(train, gib(plan["train_suggestion_bytes"]))
        else:
            train_text = self.tr(
                "About {0} for a LoRA with the default settings: too much, even with the smallest ✘"
            ).format(train)
        return [(self.tr("Memory to chat"), chat_text), (self.tr("Memory to train"), train_text)]

    def _on_quantization_chosen(self, index: int) -> None:
        model_id, mode = self.selected_id(), self.quantization_box.itemData(index)
        if model_id is None:
            return
        try:
            library.set_quantization(model_id, mode)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
            self._show_details(model_id)
            return
        self.status_message.emit(
            self.tr("Saved; {0} uses the new setting from its next load.").format(model_id)
        )
        self._show_details(model_id)  # the torch engine's memory to chat follows the setting

    def _on_quantize_clicked(self) -> None:
        model_id = self.selected_id()
        if model_id is None:
            return
        labels = {
            "q8_0": self.tr("q8_0: nearly the float quality, a quarter of fp32's size"),
            "q4_1": self.tr("q4_1: smallest and fastest, loses a little quality"),
            "q4_0": self.tr("q4_0: as small, loses a little more"),
            "f16": self.tr("f16: float quality, half of fp32's size"),
        }
        label, ok = QInputDialog.getItem(
            self, self.tr("Quantise for chat"), self.tr("GGUF type:"), list(labels.values()), 0, False
        )
        if ok:
            self.start_quantize(model_id, next(k for k, v in labels.items() if v == label))

    def start_quantize(self, model_id: str, qtype: str) -> Task | None:
        """Write the chat GGUF on a worker thread, with progress and cancel below the panels."""
        return self.task_bar.start(
            self.tr("Writing a {0} GGUF of {1}…").format(qtype, model_id),
            lambda progress: library.quantize_for_chat(model_id, qtype, progress),
            self._on_quantize_succeeded,
        )

    def _on_quantize_succeeded(self, entry: library.ModelEntry) -> None:
        self.status_message.emit(self.tr("{0} now chats through llama.cpp.").format(entry.id))
        self.refresh(select=entry.id)
        self.library_changed.emit()

    def _on_context_menu(self, pos) -> None:
        if self.selected_id() is None:
            return
        menu = QMenu(self)
        menu.addAction(self.tr("Remove from library"), self._on_remove_clicked)
        menu.exec(self.model_list.mapToGlobal(pos))

    def _on_remove_clicked(self) -> None:
        model_id = self.selected_id()
        if model_id is None:
            return
        if confirm(
            self,
            self.tr("Remove model"),
            self.tr("Remove '{0}' from the library? Its files in the library are deleted.").format(model_id),
        ):
            self.remove_model(model_id)

    def remove_model(self, model_id: str) -> None:
        try:
            library.remove_model(model_id)
        except LlamaDeskError as exc:
            show_error(self, str(exc))
        self.refresh()
        self.library_changed.emit()

    # -- import ---------------------------------------------------------------------------------

    def _on_import_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Choose a model folder"))
        if folder:
            self._ask_and_import(Path(folder))

    def _on_import_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, self.tr("Choose a GGUF file"), "", self.tr("GGUF models (*.gguf)")
        )
        if path:
            self._ask_and_import(Path(path))

    def _ask_and_import(self, src: Path) -> None:
        dialog = ImportDialog(src, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_import(
                src, dialog.name_edit.text().strip() or None, in_place=dialog.in_place.isChecked()
            )

    def start_import(self, src: Path, name: str | None = None, *, in_place: bool = False) -> Task | None:
        """Import on a worker thread; progress shows below the panels. One import at a time."""
        return self.task_bar.start(
            self.tr("Importing {0}…").format(src.name),
            lambda progress: library.import_model(src, name, in_place=in_place, progress=progress),
            self._on_import_succeeded,
        )

    def _on_import_succeeded(self, entry: library.ModelEntry) -> None:
        self.status_message.emit(self.tr("Imported {0}.").format(entry.id))
        self.refresh(select=entry.id)
        self.library_changed.emit()

    def _on_busy_changed(self, busy: bool) -> None:
        self.import_folder_button.setEnabled(not busy)
        self.import_file_button.setEnabled(not busy)
        if busy:
            self.quantize_button.setEnabled(False)
        else:
            self._show_details(self.selected_id())

    def shutdown(self) -> None:
        self.task_bar.shutdown()

    # -- drag and drop ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self._ask_and_import(Path(url.toLocalFile()))
                break
        event.acceptProposedAction()
