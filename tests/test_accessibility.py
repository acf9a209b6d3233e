"""Every interactive control has a name a screen reader can announce: its own accessible name, its
text (buttons, check boxes) or a label that is its buddy (what QFormLayout.addRow(text, field) sets).
Hidden controls count too: a collapsed panel opens later with the same controls."""

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QSpinBox,
    QTabBar,
    QTextEdit,
    QWidget,
)

from llamadesk.ui.main_window import MainWindow
from llamadesk.ui.settings import AppSettings
from llamadesk.ui.settings_dialog import SettingsDialog
from llamadesk.ui.welcome import WelcomeDialog

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QTextEdit,
    QPlainTextEdit,
    QAbstractSlider,
)
# Parts Qt builds inside a control (a spin box's line edit, a combo box's pop-up list, a table's
# header): the control they belong to carries the name.
COMPOSITES = (QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView, QTabBar)


def _inside_composite(widget: QWidget, root: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        if isinstance(parent, COMPOSITES):
            return True
        parent = parent.parentWidget()
    return False


def unnamed_controls(root: QWidget) -> list[str]:
    buddies = {id(label.buddy()) for label in root.findChildren(QLabel) if label.buddy() is not None}
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or isinstance(widget, QScrollBar):
            continue
        if _inside_composite(widget, root) or widget.objectName().startswith("qt_"):
            continue
        text = widget.text() if isinstance(widget, QAbstractButton) else ""
        if widget.accessibleName().strip() or text.replace("&", "").strip() or id(widget) in buddies:
            continue
        where = widget.parentWidget()
        missing.append(
            f"{type(widget).__name__} {widget.objectName()!r} in {type(where).__name__}"
            f" (tooltip {widget.toolTip()!r}, placeholder "
            f"{getattr(widget, 'placeholderText', lambda: '')()!r})"
        )
    return missing


def test_the_check_catches_an_unnamed_control(qtbot):
    panel = QWidget()
    qtbot.addWidget(panel)
    spin = QSpinBox(panel)
    assert len(unnamed_controls(panel)) == 1
    label = QLabel("Seed:", panel)
    label.setBuddy(spin)
    assert unnamed_controls(panel) == []


def test_every_control_in_the_main_window_has_an_accessible_name(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    missing = unnamed_controls(window)
    window.models_view.task_bar.shutdown()
    window.close()
    assert missing == [], "Give these an accessible name or a label buddy:\n" + "\n".join(missing)


def test_settings_and_welcome_dialogs_name_their_controls(qtbot):
    settings = SettingsDialog(AppSettings())
    welcome = WelcomeDialog()
    qtbot.addWidget(settings)
    qtbot.addWidget(welcome)
    assert unnamed_controls(settings) == []
    assert unnamed_controls(welcome) == []
