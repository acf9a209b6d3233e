"""Stop sequences in a streamed reply: the reply ends before the first one, and no piece of text is
sent that a stop sequence could still turn out to start."""


class StopScanner:
    """Feed it the reply's pieces; it returns what may be sent now, holding back a tail that could
    be the start of a stop sequence, and says when one has been met."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self._held + piece
        cut = min((i for i in (text.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped, self._held = True, ""
            return text[:cut]
        keep = self._longest_open_prefix(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        """What was held back, once the reply has ended without meeting a stop sequence."""
        rest, self._held = self._held, ""
        return "" if self.stopped else rest

    def _longest_open_prefix(self, text: str) -> int:
        """The length of the longest end of `text` that begins some stop sequence."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if stop.startswith(text[-size:]):
                    longest = size
                    break
        return longest
