"""Light and dark themes: "system" follows the desktop's colour scheme, live; "light" and "dark" fix it.

The Fusion style draws the same on every platform and honours any palette, so a dark theme looks
right even where the desktop has no dark style of its own (or, as under Xvfb, no desktop at all).
Qt is told the scheme too (QStyleHints.setColorScheme), so native dialogs and title bars follow it
where the platform supports that. Widgets that paint their own colours (charts, the chat transcript)
read them from the palette and repaint on QEvent.PaletteChange."""

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from llamadesk.core.resources import resource

_Role = QPalette.ColorRole
_Group = QPalette.ColorGroup


def _dark_palette() -> QPalette:
    palette = QPalette()
    colours = {
        _Role.Window: "#2b2b2e",
        _Role.WindowText: "#e8e8ea",
        _Role.Base: "#1f1f22",
        _Role.AlternateBase: "#35353a",
        _Role.ToolTipBase: "#3a3a3f",
        _Role.ToolTipText: "#e8e8ea",
        _Role.PlaceholderText: "#9a9aa2",
        _Role.Text: "#e8e8ea",
        _Role.Button: "#35353a",
        _Role.ButtonText: "#e8e8ea",
        _Role.BrightText: "#ff6b6b",
        _Role.Light: "#4a4a50",
        _Role.Midlight: "#3f3f45",
        _Role.Mid: "#5c5c64",
        _Role.Dark: "#18181a",
        _Role.Shadow: "#000000",
        _Role.Highlight: "#3d7fd6",
        _Role.HighlightedText: "#ffffff",
        _Role.Link: "#7fb4ff",
        _Role.LinkVisited: "#c29bff",
        _Role.Accent: "#3d7fd6",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#7c7c84")
    for role in (_Role.WindowText, _Role.Text, _Role.ButtonText, _Role.PlaceholderText):
        palette.setColor(_Group.Disabled, role, disabled)
    palette.setColor(_Group.Disabled, _Role.Base, QColor("#262629"))
    palette.setColor(_Group.Disabled, _Role.Button, QColor("#2f2f33"))
    palette.setColor(_Group.Disabled, _Role.Highlight, QColor("#4a4a50"))
    return palette


_ICONS = resource("icons")
# Fusion outlines check boxes and radio buttons in the window colour made darker, which on a dark
# window is next to invisible: in the dark theme they get an outline that reads, and a tick.
_DARK_INDICATORS = """
QCheckBox::indicator, QRadioButton::indicator, QGroupBox::indicator {{
    width: 13px; height: 13px; border: 1px solid #8d8d96; background: #1f1f22;
}}
QCheckBox::indicator, QGroupBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator {{ border-radius: 7px; }}
QCheckBox::indicator:checked, QGroupBox::indicator:checked {{
    background: #3d7fd6; border-color: #3d7fd6; image: url({check});
}}
QRadioButton::indicator:checked {{ background: #3d7fd6; border-color: #3d7fd6; image: url({dot}); }}
QCheckBox::indicator:disabled, QRadioButton::indicator:disabled {{ border-color: #55555c; }}
QCheckBox::indicator:checked:disabled, QRadioButton::indicator:checked:disabled {{
    background: #4a4a50; border-color: #4a4a50;
}}
""".format(check=(_ICONS / "check-dark.svg").as_posix(), dot=(_ICONS / "dot-dark.svg").as_posix())


def effective_scheme(theme: str) -> Qt.ColorScheme:
    """What `theme` ("system", "light", "dark") means right now: light or dark."""
    if theme == "dark":
        return Qt.ColorScheme.Dark
    if theme == "light":
        return Qt.ColorScheme.Light
    system = QGuiApplication.styleHints().colorScheme()
    return Qt.ColorScheme.Dark if system == Qt.ColorScheme.Dark else Qt.ColorScheme.Light


class ThemeManager(QObject):
    """Applies a theme to the application and, on "system", follows the desktop when it switches."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.setObjectName("themeManager")
        self._app = app
        self._theme = "system"
        app.setStyle("Fusion")
        app.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)

    @property
    def theme(self) -> str:
        return self._theme

    def apply(self, theme: str) -> None:
        self._theme = theme
        hints = self._app.styleHints()
        # Unknown hands the choice back to the platform, which is what "system" means.
        wanted = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(
            theme, Qt.ColorScheme.Unknown
        )
        hints.blockSignals(True)  # our own request must not re-enter _on_color_scheme_changed
        hints.setColorScheme(wanted)
        hints.blockSignals(False)
        self._set_palette()

    def _set_palette(self) -> None:
        dark = effective_scheme(self._theme) == Qt.ColorScheme.Dark
        self._app.setPalette(_dark_palette() if dark else self._app.style().standardPalette())
        self._app.setStyleSheet(_DARK_INDICATORS if dark else "")

    def _on_color_scheme_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._theme == "system":
            self._set_palette()


def is_dark(palette: QPalette) -> bool:
    """Whether text is drawn light on dark in `palette` (for colours chosen to contrast with it)."""
    return palette.color(_Role.Window).lightness() < palette.color(_Role.WindowText).lightness()


def apply_theme(app: QApplication, theme: str) -> None:
    """Apply `theme` to `app`, creating its ThemeManager on first use (one per application)."""
    manager = app.findChild(ThemeManager)
    if manager is None:
        manager = ThemeManager(app)
    manager.apply(theme)
