"""Stop sequences end a streamed reply, even when split across pieces, and hold nothing back else."""

from llamadesk.core.serving.stop_strings import StopScanner


def _run(stops, pieces):
    scanner = StopScanner(stops)
    sent = "".join(scanner.feed(p) for p in pieces) + scanner.finish()
    return sent, scanner.stopped


def test_a_stop_split_across_pieces_ends_the_reply_before_it():
    assert _run(["END"], ["Paris is the capital. E", "N", "D more"]) == ("Paris is the capital. ", True)


def test_a_false_start_is_sent_once_it_cannot_be_a_stop():
    scanner = StopScanner(["\n\n"])
    assert scanner.feed("one\n") == "one"
    assert scanner.feed("two") == "\ntwo"
    assert not scanner.stopped


def test_without_stops_everything_is_sent_at_once():
    assert _run([], ["a", "b"]) == ("ab", False)
    assert StopScanner([""]).feed("x") == "x"


def test_the_earliest_of_several_stops_wins():
    assert _run(["world", "o"], ["hello world"]) == ("hell", True)
