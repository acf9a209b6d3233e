"""How the kinds of adapters and training runs read in the interface (core stores "pt", "sft",
"imported"); the Adapters and Train panels both list them."""

from PySide6.QtCore import QCoreApplication


def kind_label(kind: str | None) -> str:
    labels = {
        "pt": QCoreApplication.translate("kinds", "pre-training"),
        "sft": QCoreApplication.translate("kinds", "SFT"),
        "imported": QCoreApplication.translate("kinds", "imported"),
    }
    return labels.get(kind or "", kind or "?")
