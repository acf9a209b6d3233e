"""One LlamaDesk window per user and data folder: a second launch brings the first to the front.

Two windows on one data folder would load two copies of a model and write the same chat database
from two processes. The first instance listens on a local socket (a Unix socket, or a named pipe on
Windows) named after the user's home and the data folder; a later launch that reaches it sends
"activate" and exits. Another LLAMADESK_HOME is another library, so it gets a window of its own."""

import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from llamadesk.core.paths import data_home

ACTIVATE = b"activate\n"
TIMEOUT_MS = 1000


def server_name() -> str:
    """Short (socket paths are limited to ~100 bytes) and the same for every launch of one user+home."""
    key = f"{Path.home()}\0{data_home().resolve()}".encode()
    return f"LlamaDesk-{hashlib.sha256(key).hexdigest()[:16]}"


def notify_running(name: str | None = None) -> bool:
    """Ask a running instance to come to the front; False when none answers."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write(ACTIVATE)
    socket.waitForBytesWritten(TIMEOUT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """The first instance's listener.

    Signals: activation_requested() when a later launch asks for the window."""

    activation_requested = Signal()

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server = QLocalServer(self)
        self._server.newConnection.connect(self._on_new_connection)

    def listen(self) -> bool:
        """Start listening. A socket file left by a crashed instance (nobody answered on it) is removed
        first; False only when the name cannot be used at all, and then the app runs unguarded."""
        if self._server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()

    def _on_new_connection(self) -> None:
        # The caller writes its one line as soon as it connects, so waiting for it here is brief.
        while (socket := self._server.nextPendingConnection()) is not None:
            arrived = socket.canReadLine() or socket.waitForReadyRead(TIMEOUT_MS)
            if arrived and bytes(socket.readLine().data()) == ACTIVATE:
                self.activation_requested.emit()
            socket.close()
            socket.deleteLater()
