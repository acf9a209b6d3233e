"""The app icon in the formats the installers want, drawn from resources/icons/llamadesk.svg at
build time so that only the SVG is kept in git: a Windows .ico for LlamaDesk.exe and the setup
program, and on a Mac an .icns for the .app bundle (made by Apple's iconutil from an .iconset of
PNGs: Qt's own .icns writer makes files its reader calls damaged). Run by packaging/llamadesk.spec;
on its own, `python packaging/app_icons.py [FOLDER]` writes them into FOLDER (default build/icons)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "resources" / "icons" / "llamadesk.svg"
ICO_SIZE = 256  # Windows scales the one image down for smaller places
ICONSET_SIZES = (16, 32, 128, 256, 512)  # each also at @2x, as iconutil expects


def make_icons(folder: Path) -> dict[str, Path]:
    """Write llamadesk.ico (and llamadesk.icns on macOS) into `folder`; returns them by format."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["app_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(SOURCE))
    if not renderer.isValid():
        raise SystemExit(f"{SOURCE} is not a readable SVG")

    def save(size: int, target: Path, fmt: str) -> None:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        if not image.save(str(target), fmt):
            raise SystemExit(f"Qt could not write {target}")

    folder.mkdir(parents=True, exist_ok=True)
    written = {"ico": folder / "llamadesk.ico"}
    save(ICO_SIZE, written["ico"], "ico")
    if sys.platform == "darwin":
        iconset = folder / "llamadesk.iconset"
        iconset.mkdir(exist_ok=True)
        for size in ICONSET_SIZES:
            save(size, iconset / f"icon_{size}x{size}.png", "png")
            save(size * 2, iconset / f"icon_{size}x{size}@2x.png", "png")
        written["icns"] = folder / "llamadesk.icns"
        subprocess.run(["iconutil", "-c", "icns", str(iconset), "-o", str(written["icns"])], check=True)
    return written


if __name__ == "__main__":
    for path in make_icons(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "icons").values():
        print(path)
