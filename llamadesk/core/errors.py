"""Errors a user can cause. Each message is written for the user: one sentence saying what is wrong
and, where possible, what to do. The CLI prints it and exits 2; the GUI shows it in a dialog.
Messages are English templates passed through `i18n._`, so they reach the user in their language."""

from llamadesk.core.i18n import _


class LlamaDeskError(Exception):
    """Base of every error whose message is meant for the user."""


class NotFoundError(LlamaDeskError):
    """A model, adapter, corpus or conversation the user named does not exist."""


class AlreadyExistsError(LlamaDeskError):
    """An id the user chose is taken; nothing was overwritten."""


class InvalidModelError(LlamaDeskError):
    """A source is not a usable model: wrong format, truncated, unsupported architecture."""


class IncompatibleAdapterError(LlamaDeskError):
    """An adapter was made for a different base model."""


class CorpusError(LlamaDeskError):
    """Training or evaluation data that cannot be used as given."""


class ResourceError(LlamaDeskError):
    """A job would not fit in memory or on disk."""


class Cancelled(LlamaDeskError):
    """The user stopped a long operation; whatever it was writing has been discarded."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("Cancelled; nothing was changed."))


class BusyError(LlamaDeskError):
    """Another process (or window) is doing the same thing right now; trying again later works."""
