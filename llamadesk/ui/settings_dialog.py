"""The Settings dialog: data folder, default model, runtime (device, dtype, CPU threads), theme,
language and the sampling settings new conversations start with.

It edits an `AppSettings` and writes it on OK; applying the changes to the running app (theme,
runtime, the chat panel's defaults) is the main window's job, so the dialog stays testable alone.
What cannot change under a running window says so beside the field: the data folder and the
language take effect at the next start."""

import os

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from llamadesk.core import library, runtime
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.paths import data_home, home_overridden
from llamadesk.ui.sampling_fields import SamplingFields
from llamadesk.ui.settings import AppSettings
from llamadesk.ui.translations import ENGLISH, available_languages


def _devices() -> list[str]:
    """The devices this machine can use; asking torch costs its import, so only once it is loaded
    (by then a model has usually been loaded); before that every known device is offered and
    pick_device falls back, with a logged reason, from one the machine lacks."""
    import sys

    return runtime.available_devices() if "torch" in sys.modules else list(runtime.DEVICES)


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setMinimumWidth(560)
        self._settings = settings
        layout = QVBoxLayout(self)
        layout.addWidget(self._build_general())
        layout.addWidget(self._build_runtime())
        layout.addWidget(self._build_sampling())
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._load()

    # -- layout -----------------------------------------------------------------------------------

    def _build_general(self) -> QGroupBox:
        box = QGroupBox(self.tr("General"))
        outer = QVBoxLayout(box)
        form = QFormLayout()
        outer.addLayout(form)
        self.folder_edit = QLineEdit()
        self.folder_edit.setAccessibleName(self.tr("Data folder"))
        self.folder_edit.setPlaceholderText(str(data_home()))
        self.folder_button = QPushButton(self.tr("Choose…"))
        self.folder_button.setAccessibleName(self.tr("Choose the data folder"))
        self.folder_button.clicked.connect(self._choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.folder_button)
        form.addRow(self.tr("Data folder:"), row)
        if home_overridden():
            note = self.tr("LLAMADESK_HOME is set, so this run uses {0} whatever is chosen here.").format(
                os.environ["LLAMADESK_HOME"]
            )
        else:
            note = self.tr("Models, chats and runs live here. A change takes effect at the next start.")
        self.folder_note = QLabel(note)

        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName(self.tr("Default model"))
        self.model_combo.addItem(self.tr("The latest conversation's model"), "")
        for entry in library.list_models():
            self.model_combo.addItem(entry.id, entry.id)
        form.addRow(self.tr("Default model:"), self.model_combo)

        self.theme_combo = QComboBox()
        self.theme_combo.setAccessibleName(self.tr("Theme"))
        self.theme_combo.addItem(self.tr("Follow the system"), "system")
        self.theme_combo.addItem(self.tr("Light"), "light")
        self.theme_combo.addItem(self.tr("Dark"), "dark")
        form.addRow(self.tr("Theme:"), self.theme_combo)

        self.language_combo = QComboBox()
        self.language_combo.setAccessibleName(self.tr("Language"))
        self.language_combo.addItem(self.tr("Follow the system"), "")
        names = {ENGLISH: "English", "zh_CN": "简体中文"}  # each in its own language, as menus show them
        for language in available_languages():
            self.language_combo.addItem(names.get(language, language), language)
        form.addRow(self.tr("Language:"), self.language_combo)
        # Notes go under the form, where wrapped text gets the height it needs.
        for note_label in (self.folder_note, QLabel(self.tr("A new language shows from the next start."))):
            note_label.setWordWrap(True)
            outer.addWidget(note_label)
        return box

    def _build_runtime(self) -> QGroupBox:
        box = QGroupBox(self.tr("Running models"))
        outer = QVBoxLayout(box)
        form = QFormLayout()
        outer.addLayout(form)
        self.device_combo = QComboBox()
        self.device_combo.setAccessibleName(self.tr("Device"))
        labels = {"auto": self.tr("Automatic (fastest available)"), "cpu": self.tr("CPU")}
        for device in _devices():
            self.device_combo.addItem(labels.get(device, device.upper()), device)
        form.addRow(self.tr("Device:"), self.device_combo)
        self.dtype_combo = QComboBox()
        self.dtype_combo.setAccessibleName(self.tr("Number format"))
        self.dtype_combo.addItem(self.tr("Automatic (suits the device)"), "auto")
        for dtype in runtime.DTYPES[1:]:
            self.dtype_combo.addItem(dtype, dtype)
        form.addRow(self.tr("Number format:"), self.dtype_combo)
        self.threads_spin = QSpinBox()
        self.threads_spin.setAccessibleName(self.tr("CPU threads"))
        self.threads_spin.setRange(0, max(os.cpu_count() or 1, 1) * 2)
        self.threads_spin.setSpecialValueText(self.tr("automatic"))
        form.addRow(self.tr("CPU threads:"), self.threads_spin)
        note = QLabel(self.tr("Threads apply at once; device and number format from the next model loaded."))
        note.setWordWrap(True)
        outer.addWidget(note)
        return box

    def _build_sampling(self) -> QGroupBox:
        box = QGroupBox(self.tr("New conversations start with"))
        self.sampling_fields = SamplingFields()
        QVBoxLayout(box).addWidget(self.sampling_fields)
        return box

    # -- values -----------------------------------------------------------------------------------

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        combo.setCurrentIndex(max(combo.findData(value), 0))

    def _load(self) -> None:
        settings = self._settings
        self.folder_edit.setText(settings.data_folder)
        self._select(self.model_combo, settings.default_model)
        self._select(self.theme_combo, settings.theme)
        self._select(self.language_combo, settings.language)
        options = settings.runtime_options
        self._select(self.device_combo, options.device)
        self._select(self.dtype_combo, options.dtype)
        self.threads_spin.setValue(options.threads)
        self.sampling_fields.show_settings(settings.sampling)

    def runtime_options(self) -> runtime.RuntimeOptions:
        return runtime.RuntimeOptions(
            device=self.device_combo.currentData(),
            dtype=self.dtype_combo.currentData(),
            threads=self.threads_spin.value(),
        )

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Choose the data folder"), self.folder_edit.text() or str(data_home())
        )
        if folder:
            self.folder_edit.setText(folder)

    def accept(self) -> None:
        """Write every field to the settings; a value out of range keeps the dialog open and says why."""
        try:
            sampling = self.sampling_fields.settings()
            options = self.runtime_options()
        except LlamaDeskError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        settings = self._settings
        settings.data_folder = self.folder_edit.text().strip()
        settings.default_model = self.model_combo.currentData()
        settings.theme = self.theme_combo.currentData()
        settings.language = self.language_combo.currentData()
        settings.runtime_options = options
        settings.sampling = sampling
        settings.sync()
        super().accept()
