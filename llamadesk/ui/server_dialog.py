"""The Local server dialog: the window's switch for the OpenAI-compatible server, with its address.

Off by default and never started without the user's click. It listens on this computer only; the
"other computers" box needs an API key and says in words what it opens. Starting is quick (the
socket is bound and uvicorn started; the model loads on the first request), so it runs on the GUI
thread and a refusal (a taken port, no key) shows as one sentence under the form."""

import secrets

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.serving.server import DEFAULT_HOST, LocalServer
from llamadesk.ui.settings import AppSettings

ANY_ADDRESS = "0.0.0.0"


class ServerDialog(QDialog):
    """Start and stop the server the window holds (`server`, None when off)."""

    server_changed = Signal(object)  # the running LocalServer, or None once stopped

    def __init__(self, server: LocalServer | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Local server"))
        self.setMinimumWidth(520)
        self.server = server
        intro = QLabel(
            self.tr(
                "Other programs on this computer (editors, notebooks, scripts) can use your models "
                "through OpenAI's API: give them the address below as the base URL and a model's "
                "name, or MODEL@ADAPTER for an adapter."
            )
        )
        intro.setWordWrap(True)
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(AppSettings().server_port)
        self.network = QCheckBox(self.tr("Let other computers on the network connect"))
        self.network_note = QLabel(
            self.tr(
                "Anyone on your network who has the key can then use your models and adapters; "
                "your documents and chats stay here."
            )
        )
        self.network_note.setWordWrap(True)
        self.api_key = QLineEdit()
        self.api_key.setPlaceholderText(self.tr("required for other computers"))
        self.new_key = QPushButton(self.tr("New key"))
        self.new_key.clicked.connect(lambda: self.api_key.setText(secrets.token_urlsafe(24)))
        key_row = QHBoxLayout()
        key_row.addWidget(self.api_key, 1)
        key_row.addWidget(self.new_key)
        form = QFormLayout()
        form.addRow(self.tr("Port:"), self.port)
        form.addRow("", self.network)
        form.addRow("", self.network_note)
        form.addRow(self.tr("API key:"), key_row)

        self.address = QLineEdit()
        self.address.setReadOnly(True)
        self.copy = QPushButton(self.tr("Copy"))
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.address.text()))
        address_row = QHBoxLayout()
        address_row.addWidget(self.address, 1)
        address_row.addWidget(self.copy)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.toggle = QPushButton()
        self.toggle.clicked.connect(self._toggle)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addLayout(address_row)
        layout.addWidget(self.state)
        layout.addWidget(self.toggle)
        layout.addWidget(buttons)
        self.network.toggled.connect(self._show_state)
        self._show_state()

    def _show_state(self) -> None:
        running = self.server is not None
        for widget in (self.port, self.network):
            widget.setEnabled(not running)
        wide = self.network.isChecked()
        self.network_note.setVisible(wide)
        for widget in (self.api_key, self.new_key):
            widget.setEnabled(wide and not running)
        self.toggle.setText(self.tr("Stop the server") if running else self.tr("Start the server"))
        self.address.setText(self.server.address if running else "")
        self.copy.setEnabled(running)
        if running:
            where = (
                self.tr("this computer only")
                if self.server.host == DEFAULT_HOST
                else self.tr("other computers too (with the key)")
            )
            self.state.setText(self.tr("Running; reachable from {0}.").format(where))
        else:
            self.state.setText(self.tr("Off: nothing listens."))

    def _toggle(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        else:
            wide = self.network.isChecked()
            key = self.api_key.text().strip() or None
            if wide and key is None:
                self.state.setText(self.tr("Other computers need an API key: type one or press New key."))
                return
            host = ANY_ADDRESS if wide else DEFAULT_HOST
            try:
                server = LocalServer(host, self.port.value(), api_key=key, allow_network=wide)
            except LlamaDeskError as exc:
                self.state.setText(str(exc))
                return
            server.start()
            self.server = server
            settings = AppSettings()
            settings.server_port = self.port.value()
            settings.sync()
        self.server_changed.emit(self.server)
        self._show_state()
