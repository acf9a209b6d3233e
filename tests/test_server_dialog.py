"""The window's Local server switch: off until clicked, on this computer only, stopped on click or
when the window closes; other computers only with a key."""

import json
import socket
import urllib.request

from PySide6.QtCore import Qt

from llamadesk.ui.main_window import MainWindow
from llamadesk.ui.server_dialog import ServerDialog


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_switch_starts_and_stops_a_loopback_server(qtbot):
    dialog = ServerDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.state.text() == "Off: nothing listens." and not dialog.api_key.isEnabled()
    dialog.port.setValue(_free_port())
    qtbot.mouseClick(dialog.toggle, Qt.MouseButton.LeftButton)
    assert dialog.server is not None and dialog.server.host == "127.0.0.1"
    assert dialog.address.text() == f"http://127.0.0.1:{dialog.port.value()}/v1"
    assert "this computer only" in dialog.state.text()
    with urllib.request.urlopen(dialog.address.text() + "/models", timeout=10) as answer:
        assert json.load(answer) == {"object": "list", "data": []}
    qtbot.mouseClick(dialog.toggle, Qt.MouseButton.LeftButton)
    assert dialog.server is None and dialog.address.text() == ""


def test_other_computers_need_a_key_and_a_taken_port_is_a_sentence(qtbot):
    dialog = ServerDialog(None)
    qtbot.addWidget(dialog)
    dialog.network.setChecked(True)
    assert dialog.api_key.isEnabled() and dialog.network_note.isVisibleTo(dialog)
    qtbot.mouseClick(dialog.toggle, Qt.MouseButton.LeftButton)
    assert dialog.server is None and "need an API key" in dialog.state.text()
    dialog.network.setChecked(False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        dialog.port.setValue(taken.getsockname()[1])
        qtbot.mouseClick(dialog.toggle, Qt.MouseButton.LeftButton)
    assert dialog.server is None and "is taken by another program" in dialog.state.text()


def test_the_window_shows_the_server_and_stops_it_on_close(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.server_button.text() == "Local server: off"
    dialog = window.open_server()
    dialog.port.setValue(_free_port())
    qtbot.mouseClick(dialog.toggle, Qt.MouseButton.LeftButton)
    assert window.server is dialog.server
    assert window.server_button.text() == f"Local server: {dialog.server.address}"
    server = window.server
    window.close()
    assert server._thread is not None and not server._thread.is_alive()
