"""Where the app's own files are: icons, translation catalogues, evaluation samples and the desktop
entry (the user's files are in `paths.data_home`).

They live in the repository's top-level `resources/` folder, which a source checkout (editable
install included) reads in place. A wheel installs that folder as `llamadesk/resources` (the
package-dir mapping in pyproject.toml) and the frozen build carries it there too, so the package's
own copy wins where it exists."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    installed = _PACKAGE / "resources"
    return installed if installed.is_dir() else _PACKAGE.parent / "resources"


def resource(*parts: str) -> Path:
    """A file or folder under the resources, e.g. resource("icons", "llamadesk.svg")."""
    return resources_dir().joinpath(*parts)
