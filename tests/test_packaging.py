"""What the frozen (PyInstaller) build relies on, checked from source: the build itself is too heavy
for the suite and runs with packaging/build_linux.sh and packaging/smoke_test_linux.sh."""

import configparser
import pkgutil
import sys
import tomllib
from pathlib import Path

from PySide6.QtGui import QIcon, QImage

import llamadesk.cli
from llamadesk.core import resources, starter
from llamadesk.ui import train_process
from llamadesk.ui.app import ICON

ROOT = Path(__file__).resolve().parent.parent


def test_the_frozen_command_list_matches_the_modules():
    found = sorted(m.name for m in pkgutil.iter_modules(llamadesk.cli.__path__) if not m.name.startswith("_"))
    assert list(llamadesk.cli.FROZEN_COMMANDS) == found


def test_commands_fall_back_to_the_list_when_the_importer_lists_nothing(monkeypatch):
    monkeypatch.setattr(pkgutil, "iter_modules", lambda path: iter(()))
    assert llamadesk.cli.command_modules() == list(llamadesk.cli.FROZEN_COMMANDS)
    assert "train" in llamadesk.cli.build_parser().parse_args(["train", "--resume", "x"]).command


def test_the_runner_is_the_app_itself_in_a_frozen_build(monkeypatch):
    assert train_process.runner_command("r1")[1:] == ["-m", "llamadesk.train", "--resume", "r1"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/LlamaDesk/LlamaDesk")
    command = train_process.runner_command("r1")
    assert command == ["/opt/LlamaDesk/LlamaDesk", "train", "--json", "--resume", "r1"]
    args = llamadesk.cli.build_parser().parse_args(command[1:])
    assert (args.command, args.json, args.resume) == ("train", True, "r1")


def test_a_frozen_build_finds_the_starter_in_its_bundle(monkeypatch, tmp_path):
    bundled = tmp_path / starter.STARTER_PACKAGE / starter.STARTER_FILE
    bundled.parent.mkdir()
    bundled.write_bytes(b"GGUF")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert starter.find_starter_gguf() == bundled


def test_the_icon_loads(qapp):
    assert ICON.is_file()
    assert not QIcon(str(ICON)).pixmap(64, 64).isNull()


def test_the_desktop_entry():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(ROOT / "resources" / "desktop" / "llamadesk.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"] == "LlamaDesk"
    assert desktop["Icon"] == ICON.stem
    assert desktop["Categories"] == "Utility;Development;"
    assert desktop["StartupWMClass"] == "LlamaDesk"


def test_the_wheel_lists_every_package_and_carries_the_resources():
    """pyproject.toml lists the packages by hand (resources/ is mapped into the package from
    outside it), so a new subpackage must be added there: this notices one that is not."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = sorted(
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "llamadesk").rglob("__init__.py")
    )
    assert sorted(config["packages"]) == sorted([*folders, "llamadesk.resources"])
    assert config["package-dir"] == {"llamadesk.resources": "resources"}


def test_resources_are_read_from_the_package_when_installed_and_the_checkout_otherwise(monkeypatch, tmp_path):
    assert resources.resources_dir() == ROOT / "resources"
    assert resources.resource("icons", "llamadesk.svg").is_file()
    package = tmp_path / "llamadesk"
    (package / "resources").mkdir(parents=True)
    monkeypatch.setattr(resources, "_PACKAGE", package)
    assert resources.resources_dir() == package / "resources"


def test_the_build_draws_the_windows_icon_from_the_svg(qapp, tmp_path):
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from app_icons import make_icons
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    icon = QImage(str(make_icons(tmp_path)["ico"]))
    assert (icon.width(), icon.height()) == (256, 256)
    assert icon.pixelColor(32, 32).name() == "#2f5d8a"  # the SVG's background
