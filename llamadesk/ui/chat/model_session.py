"""The model the chat talks to: the one chosen in the model bar, loaded on the engine's thread, the
adapter and the documents chosen with it, and the status line that says what answers and how fast.

A model is loaded only once the panel is on screen (`begin`), so the window shows before any model
work starts. A loaded model that left the library stays listed, marked, and keeps answering from
memory until another is chosen.

Signals: status_changed(text) — the status-bar line (model, device, dtype, memory, speed);
model_loaded() — a model is ready to answer; load_failed(message); notice_given(text) — something
for the chat's notice line (llama.cpp missing, an adapter that failed, a busy history)."""

from PySide6.QtCore import QObject, QTimer, Signal

from llamadesk.core import library
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.history import ChatHistory
from llamadesk.ui.chat.model_bar import ModelBar
from llamadesk.ui.chat_worker import ChatController
from llamadesk.ui.settings import AppSettings
from llamadesk.ui.sizes import human_bytes


class ModelSession(QObject):
    status_changed = Signal(str)
    model_loaded = Signal()
    load_failed = Signal(str)
    notice_given = Signal(str)

    def __init__(
        self,
        controller: ChatController,
        model_bar: ModelBar,
        history: ChatHistory,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._bar = model_bar
        self._history = history  # the latest conversation's model is the default
        self._requested: str | None = None  # asked of the engine: loading, or loaded
        self._info: dict | None = None  # the engine's figures for the model in memory
        self._adapter: str | None = None
        self.docs: str | None = None  # the corpus replies are grounded in, if any
        self._speed: float | None = None
        self._ttft: float | None = None  # the last reply's time to first token, in seconds
        self._told_engine = False  # whether the user was told llama.cpp is missing
        self._begun = False
        self.status_text = ""
        controller.model_loaded.connect(self._on_model_loaded)
        controller.load_failed.connect(self._on_load_failed)
        controller.load_progressed.connect(self._on_load_progressed)
        controller.adapter_changed.connect(self._on_adapter_changed)
        controller.adapter_failed.connect(self._on_adapter_failed)
        model_bar.model_chosen.connect(self._on_model_chosen)
        model_bar.adapter_chosen.connect(self._on_adapter_chosen)
        model_bar.docs_chosen.connect(self._on_docs_chosen)

    def begin(self) -> None:
        """The panel is on screen: from after its first paint, the chosen model loads. Later calls
        (the panel shown again) change nothing."""
        if not self._begun:
            self._begun = True
            QTimer.singleShot(0, self.ensure)

    def chosen(self) -> str | None:
        """The model chosen in the picker (it may still be loading)."""
        return self._bar.model_combo.currentData()

    def loaded(self) -> str | None:
        """The model in memory, ready to answer."""
        return self._info["model_id"] if self._info else None

    def context_length(self) -> int | None:
        """The loaded model's context, in tokens (None while none is loaded)."""
        return self._info.get("context_length") if self._info else None

    def speaker(self) -> str:
        """Who writes a reply started now: the chosen model, with its adapter."""
        return self.chosen() + (f" + {self._adapter}" if self._adapter else "")

    def answering(self) -> tuple[str | None, str | None]:
        """The model and adapter answering now, for a reply whose own figures never came."""
        return (self._info or {}).get("model_id") or self._requested, self._adapter

    def refresh(self) -> None:
        """Re-read the library (after an import or removal)."""
        current = self.chosen()
        loaded = self.loaded()
        ids = [entry.id for entry in library.list_models()]
        entries = [(model_id, model_id) for model_id in ids]
        if loaded and loaded not in ids:
            entries.append((self.tr("{0} (removed from the library)").format(loaded), loaded))
        self._bar.show_models(entries, current or loaded or self._default_model(ids))
        self._refresh_adapters()
        self._refresh_corpora()
        if self.chosen() != current:
            self._on_model_chosen()

    def _default_model(self, ids: list[str]) -> str | None:
        """The default model chosen in Settings, else the model of the latest conversation, else the
        starter model, else the first one."""
        from llamadesk.core.starter import STARTER_ID

        chosen = AppSettings().default_model
        if chosen in ids:
            return chosen
        try:
            latest = self._history.conversations()[:1]
        except LlamaDeskError as exc:
            self.notice_given.emit(str(exc))
            latest = []
        for conversation in latest:
            if conversation.model_id in ids:
                return conversation.model_id
        if STARTER_ID in ids:
            return STARTER_ID
        return ids[0] if ids else None

    def ensure(self) -> None:
        """Queue loading the chosen model unless it is loaded or on its way."""
        model_id = self.chosen()
        if model_id is None or model_id == self._requested:
            return
        self._requested = model_id
        self._adapter = None
        self._controller.load(model_id)
        self.update_status()

    def files_gone_warning(self, model_id: str) -> str:
        """What to say where the model's files left the disk after it was loaded ("" if they are there)."""
        try:
            present = (library.get_model(model_id).path / "config.json").is_file()
        except LlamaDeskError:
            present = False
        if present:
            return ""
        return self.tr(
            "The files of {0} are gone; it keeps answering from memory until you choose another model."
        ).format(model_id)

    def _on_model_chosen(self, *_model: object) -> None:
        self._refresh_adapters()
        if self._begun:
            self.ensure()

    def _on_load_progressed(self, _fraction: float, message: str) -> None:
        self._emit_status(message)

    def _on_model_loaded(self, info: dict) -> None:
        self._info = info
        self._adapter = None
        from llamadesk.core.engines import llamacpp_problem

        problem = llamacpp_problem()
        if problem and not self._told_engine:  # said once a session, not at every load
            self._told_engine = True
            self.notice_given.emit(problem)
        self._refresh_adapters()
        self._restore_adapter()
        self.update_status()
        self.model_loaded.emit()

    def _restore_adapter(self) -> None:
        """The adapter chosen when the app last closed, where it belongs to the model now loaded."""
        wanted = AppSettings().last_adapter
        index = self._bar.adapter_combo.findData(wanted) if wanted else -1
        if index > 0 and self._adapter != wanted:
            self._bar.adapter_combo.setCurrentIndex(index)  # chooses it, as a click would

    def _on_load_failed(self, message: str) -> None:
        self._requested = None
        self._info = None
        self.load_failed.emit(message)
        self.update_status()

    def _refresh_corpora(self) -> None:
        from llamadesk.core.corpus import store

        corpora = [(entry.name, entry.id) for entry in store.list_corpora()]
        if self.docs not in {corpus_id for _name, corpus_id in corpora}:
            self.docs = None  # removed from the library meanwhile
        self._bar.show_corpora(corpora, self.docs)

    def _on_docs_chosen(self, corpus_id: str | None) -> None:
        """Replies from now on come from this corpus's passages (None: from the model alone)."""
        self.docs = corpus_id

    def _refresh_adapters(self) -> None:
        from llamadesk.core import adapters

        model_id = self.chosen()
        entries = adapters.list_adapters(base_id=model_id) if model_id else []
        self._bar.show_adapters([entry.id for entry in entries], self._adapter)

    def _on_adapter_chosen(self, *_adapter: object) -> None:
        adapter_id = self._bar.adapter_combo.currentData()
        if adapter_id != self._adapter:
            AppSettings().last_adapter = adapter_id
            self.ensure()
            self._controller.set_adapter(adapter_id)
            self._emit_status(self.tr("Switching to {0}…").format(adapter_id or self.tr("the base model")))

    def _on_adapter_changed(self, adapter_id: str | None, info: dict) -> None:
        self._adapter = adapter_id
        if self._info is not None:
            self._info = info
        self._refresh_adapters()  # a switch asked for while the model loaded lands here, after it
        self.update_status()

    def _on_adapter_failed(self, message: str) -> None:
        self.notice_given.emit(message)
        self._refresh_adapters()  # back to the adapter actually in use
        self.update_status()

    def note_reply(self, figures: dict) -> None:
        """A reply finished: its speed and the memory now in use go into the status line."""
        self._speed = figures["tokens_per_s"] or self._speed
        self._ttft = figures["ttft_s"] if figures["new_tokens"] else self._ttft
        if self._info is not None:
            self._info["memory_bytes"] = figures["memory_bytes"]
        self.update_status()

    def update_status(self) -> None:
        info = self._info
        if self._requested and (info is None or info["model_id"] != self._requested):
            text = self.tr("Loading {0}…").format(self._requested)
        elif info is None:
            text = self.tr("No model loaded")
        else:
            name = info["model_id"] + (f" + {self._adapter}" if self._adapter else "")
            parts = [name, info["engine"], info["device"], info["dtype"]]
            if info["engine"] == "torch" and info["quantization"] != "none":
                parts.append(self.tr("{0} weights").format(info["quantization"]))
            parts.append(human_bytes(info["memory_bytes"]))
            if self._speed is not None:
                parts.append(self.tr("{0} tokens/s").format(f"{self._speed:.1f}"))
            if self._ttft is not None:
                parts.append(self.tr("first token {0} s").format(f"{self._ttft:.2f}"))
            text = " · ".join(parts)
        self._emit_status(text)

    def _emit_status(self, text: str) -> None:
        self.status_text = text
        self.status_changed.emit(text)
