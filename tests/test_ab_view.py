from pathlib import Path

import pytest

from llamadesk.core import adapters, library
from llamadesk.core.evaluation import results
from llamadesk.ui.ab_view import ABView
from tests.test_adapters import make_adapter


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "zh-sft")


@pytest.fixture
def view(qtbot):
    widget = ABView()
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _generate(qtbot, view, prompt="The capital of France is"):
    view.prompt_edit.setPlainText(prompt)
    view.max_tokens_spin.setValue(6)
    with qtbot.waitSignal(view.task_bar.busy_changed, check_params_cb=lambda busy: not busy, timeout=60_000):
        assert view.generate() is not None
        assert not view.a_button.isEnabled()


def test_blind_round_vote_and_win_rates(qtbot, view, tiny_model_dir, lora_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_dir, "tiny")
    view.refresh()
    assert [view.first_combo.itemData(i) for i in range(view.first_combo.count())] == ["tiny", "tiny+zh-sft"]
    assert (view.first_combo.currentData(), view.second_combo.currentData()) == ("tiny", "tiny+zh-sft")

    expected = {"tiny": 0, "tiny+zh-sft": 0}
    for winner in ("a", "b", "tie"):
        _generate(qtbot, view)
        assert view.a_button.isEnabled() and view.b_button.isEnabled() and view.tie_button.isEnabled()
        shown = view._round
        assert {shown["variant_a"], shown["variant_b"]} == {"tiny", "tiny+zh-sft"}
        assert view.reply_a.toPlainText() == (shown["reply_a"] or "(empty reply)")
        assert "tiny" not in view.reveal_label.text()  # no hint of which is which before the vote
        with qtbot.waitSignal(view.vote_recorded):
            view.vote(winner)
        assert not view.a_button.isEnabled()
        assert (
            shown["variant_a"] in view.reveal_label.text() and shown["variant_b"] in view.reveal_label.text()
        )
        if winner != "tie":
            expected[shown[f"variant_{winner}"]] += 1

    tally = results.win_rates()
    assert len(tally) == 1 and tally[0].total == 3 and tally[0].ties == 1
    wins = {"tiny": tally[0].first_wins, "tiny+zh-sft": tally[0].second_wins}
    assert wins == expected
    table = view.win_table
    assert table.rowCount() == 1
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    assert row[:2] == ["tiny", "tiny+zh-sft"]
    assert row[2:6] == [str(wins["tiny"]), str(wins["tiny+zh-sft"]), "1", "3"]
    assert row[6] == f"{wins['tiny'] / 3:.0%}"
    # Greedy replies do not depend on the side drawn: the same prompt gives the same two replies.
    replies = {(r[2], r[4]) for r in _votes()} | {(r[3], r[5]) for r in _votes()}
    assert len({variant for variant, _ in replies}) == 2 and len(replies) == 2


def _votes():
    from llamadesk.core.evaluation.results import connect

    with connect() as conn:
        return conn.execute(
            "SELECT prompt, winner, variant_a, variant_b, reply_a, reply_b FROM ab_votes"
        ).fetchall()


def test_refuses_same_variant_empty_prompt_and_model_without_adapters(qtbot, view, tiny_model_dir, lora_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    view.refresh()
    assert view.first_combo.count() == 1 and not view.generate_button.isEnabled()
    assert view.generate() is None
    adapters.import_adapter(lora_dir, "tiny")
    view.refresh()
    view.second_combo.setCurrentIndex(0)
    view.prompt_edit.setPlainText("hi")
    assert view.generate() is None
    assert "two different" in view.findChildren(object, "errorDialog")[-1].text()
    view.second_combo.setCurrentIndex(1)
    view.prompt_edit.setPlainText("   ")
    assert view.generate() is None
    assert "Type a prompt" in view.findChildren(object, "errorDialog")[-1].text()
    view.vote("a")  # no round on screen: nothing is stored
    assert results.win_rates() == []


def test_stop_puts_nothing_to_a_vote(qtbot, view, tiny_model_dir, lora_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_dir, "tiny")
    view.refresh()
    view.prompt_edit.setPlainText("Hello")
    with qtbot.waitSignal(view.task_bar.cancelled, timeout=60_000):
        view.generate()
        view.task_bar.cancel()
    qtbot.waitUntil(lambda: not view.task_bar.is_busy())
    assert view._round is None and not view.a_button.isEnabled()


def test_chat_ratings_appear_per_variant(qtbot):
    from llamadesk.core.history import ChatHistory
    from llamadesk.ui.ab_view import ABView

    with ChatHistory() as history:
        conversation = history.create(title="t", model_id="tiny")
        for adapter, thumb, stars in ((None, 1, 4), ("zh", -1, 2), ("zh", 1, None)):
            history.add_message(conversation.id, "user", "Hi")
            reply = history.add_message(
                conversation.id, "assistant", "Hello", model_id="tiny", adapter_id=adapter
            )
            history.rate(reply.id, thumb=thumb, stars=stars)
    view = ABView()
    qtbot.addWidget(view)
    view.refresh_ratings()
    rows = [
        [view.ratings_table.item(r, c).text() for c in range(view.ratings_table.columnCount())]
        for r in range(view.ratings_table.rowCount())
    ]
    assert rows == [["tiny", "1", "1", "0", "4.0"], ["tiny+zh", "2", "1", "1", "2.0"]]
    view.shutdown()


def test_an_unreadable_chat_history_is_one_sentence_not_a_crash(qtbot, monkeypatch):
    from llamadesk.core.history import HistoryError
    from llamadesk.ui import ab_view

    def busy(*args, **kwargs):
        raise HistoryError("The chat history is in use by another program; try again in a moment.")

    monkeypatch.setattr(ab_view, "ChatHistory", busy)
    view = ABView()
    qtbot.addWidget(view)
    view.refresh_ratings()
    assert view.ratings_note.isVisibleTo(view)
    assert view.ratings_note.text() == "The chat history is in use by another program; try again in a moment."
    assert view.ratings_table.rowCount() == 0
    view.shutdown()


def test_base_with_and_without_documents_can_be_compared(qtbot, view, tiny_model_dir, tmp_path):
    from llamadesk.core.corpus import store

    library.import_model(tiny_model_dir, "tiny", in_place=True)
    notes = tmp_path / "notes.md"  # short: the tiny model's context is 256 tokens
    notes.write_text("Lumen Tea was founded by Mara Okafor.\n\nThe mascot is a heron.\n", encoding="utf-8")
    corpus = store.add_corpus([notes], "lumen")
    view.refresh()
    assert view.first_combo.count() == 1  # no adapter, no documents: nothing to compare
    view.docs_combo.setCurrentIndex(view.docs_combo.findData(corpus.id))
    labels = [view.first_combo.itemData(i) for i in range(view.first_combo.count())]
    assert labels == ["tiny", f"tiny + docs:{corpus.id}"]
    assert view.generate_button.isEnabled()
    _generate(qtbot, view, "Who founded Lumen Tea?")
    assert {view._round["variant_a"], view._round["variant_b"]} == set(labels)
    with qtbot.waitSignal(view.vote_recorded):
        view.vote("b")
    [tally] = results.win_rates()
    assert (tally.first, tally.second) == ("tiny", f"tiny + docs:{corpus.id}")
