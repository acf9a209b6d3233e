"""The Train panel on the tiny model: documents dropped and previewed (decoded samples, refusals that
change nothing, Clear), a job started from the form and followed to its adapter, cancel and resume,
re-attaching after the panel is closed, the memory refusal with its suggestion, the step plan and its
warnings, past curves and learn reports, the instruction editor opened on a corpus, and the guided
Chinese → merge → SFT flow."""

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from llamadesk.core import adapters, library
from llamadesk.core.corpus import store
from llamadesk.core.drafting import QAPair
from llamadesk.core.training import memory, plan, runs
from llamadesk.ui import train_process
from llamadesk.ui.train.run_monitor import RunMonitor
from llamadesk.ui.train_view import TrainView
from tests.test_train_process import RUN_TIMEOUT_MS, kill_runners
from tests.test_training_runner import trained_elsewhere
from tests.training_fixtures import import_tiny, sft_corpus, text_corpus, tiny_spec, write_alpaca

SMALL_JOB = {"block_size": 32, "batch_size": 2, "grad_accum": 2, "eval_every": 2, "save_every": 2}


@pytest.fixture
def tiny(tiny_model_dir):
    return import_tiny(tiny_model_dir)


@pytest.fixture
def make_view(qtbot):
    views: list[TrainView] = []

    def make() -> TrainView:
        view = TrainView()
        qtbot.addWidget(view)
        views.append(view)
        return view

    yield make
    for view in views:
        view.shutdown()
    kill_runners()


def _finish(qtbot, task):
    assert task is not None
    with qtbot.waitSignal(task.finished, timeout=60_000):
        pass


def _drop(view: TrainView, *paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.dropEvent(event)


def _start(qtbot, view: TrainView, **values) -> str:
    view.form.apply_values(SMALL_JOB | values)
    _finish(qtbot, view.start_job())
    assert view.job is not None, view.form.memory_label.text()
    return view.job.run_id


def _points(view: TrainView, name: str) -> list[tuple[float, float]]:
    return view.monitor.chart.series().get(name, [])


def test_dropped_documents_are_previewed_then_added(qtbot, tiny, make_view, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "en.txt").write_text("Llamas live in the Andes.\n\nThey carry loads.", encoding="utf-8")
    (docs / "zh.md").write_text("# 笔记\n\n北京是中国的首都。人工智能正在改变世界。", encoding="gb18030")
    (docs / "copy.txt").write_text("Llamas live in the Andes.\n\nThey carry loads.", encoding="utf-8")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    view = make_view()
    _drop(view, docs)
    _finish(qtbot, view.task_bar.task)
    preview = view.data.preview_view.toPlainText()
    assert "Files read  \n3\n" in preview and "Tokens  \n89\n" in preview  # the tiny tokenizer's count
    assert "photo.png" in preview and "not supported" in preview  # skipped, with the reason
    assert "CJK" in preview and "Latin" in preview and "GB18030 (GBK)" in preview
    assert "Duplicates dropped" in preview and "(choose a base model)" not in preview  # tokens counted
    assert view.data.add_corpus_button.isEnabled()

    _finish(qtbot, view.data.add_corpus("my-docs"))
    entry = store.get_corpus("my-docs")
    assert entry.kind == "text" and entry.manifest["tokens"] > 0 and entry.manifest["duplicates"] == 1
    assert view.data.corpus_list.count() == 1 and view.form.corpus_combo.currentData() == "my-docs"
    assert view.form.kind_combo.currentData() == "pt" and view.form.name_edit.text() == "tiny-my-docs-pt"
    assert not view.data.add_corpus_button.isEnabled()

    view.data.corpus_list.setCurrentRow(0)  # a stored corpus shows its manifest's summary
    assert "my-docs" in view.data.preview_view.toPlainText()


def test_a_job_runs_from_the_form_to_an_adapter_with_live_curves(qtbot, tiny, make_view, tmp_path):
    corpus = text_corpus(tmp_path)
    view = make_view()
    changed = []
    view.adapters_changed.connect(lambda: changed.append(True))
    run_id = _start(qtbot, view, data=[corpus], out="notes-lora", max_steps=4)
    assert not view.form.start_button.isEnabled() and view.form.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: bool(changed), timeout=RUN_TIMEOUT_MS)

    assert [a.id for a in adapters.list_adapters("tiny")] == ["notes-lora"]
    assert [x for x, _y in _points(view, "loss")] == [1, 2, 3, 4]
    assert [x for x, _y in _points(view, "eval loss")] == [2, 4]
    assert view.monitor.progress_bar.value() == view.monitor.progress_bar.maximum() == 4
    log = view.monitor.log_view.toPlainText()
    assert "Started: 4 steps" in log and "Done: the adapter notes-lora is in the library." in log
    assert "done" in view.monitor.run_title.text() and view.job is None and view.form.start_button.isEnabled()
    assert view.runs_tree.topLevelItem(0).text(2) == "done"

    # Past runs' curves stay viewable, in a new panel too.
    other = make_view()
    assert other.job is None
    other.show_run(run_id)
    qtbot.waitUntil(lambda: len(_points(other, "loss")) == 4, timeout=10_000)
    assert _points(other, "loss") == _points(view, "loss")
    assert "Done: the adapter notes-lora" in other.monitor.log_view.toPlainText()  # its log, read back
    assert "— done" in other.monitor.run_title.text()


def test_cancel_then_resume_to_completion(qtbot, tiny, make_view, tmp_path):
    corpus = text_corpus(tmp_path)
    view = make_view()
    run_id = _start(qtbot, view, data=[corpus], out="resumed", max_steps=30, save_every=1000)
    assert not view.form.resume_button.isEnabled()
    qtbot.waitUntil(lambda: len(_points(view, "loss")) >= 1, timeout=RUN_TIMEOUT_MS)
    view.cancel_job()
    assert "Stopping" in view.monitor.stats_label.text()  # said at once, nothing waited for
    qtbot.waitUntil(lambda: "stopped" in view.monitor.run_title.text(), timeout=10_000)
    qtbot.waitUntil(lambda: view.job is None, timeout=RUN_TIMEOUT_MS)
    run = runs.get_run(run_id)
    stopped = run.last_checkpoint()[0]
    assert run.status == "cancelled" and stopped < 30
    assert "Stopped after step" in view.monitor.log_view.toPlainText()
    assert view.form.resume_button.isEnabled() and adapters.list_adapters() == []

    changed = []
    view.adapters_changed.connect(lambda: changed.append(True))
    view.form.resume_button.click()
    assert view.job is not None and view.job.run_id == run_id
    qtbot.waitUntil(lambda: bool(changed), timeout=RUN_TIMEOUT_MS)
    assert adapters.get_adapter("resumed").manifest["run_id"] == run_id
    # The replayed log, cut back at the checkpoint, gives each step once.
    assert [x for x, _y in _points(view, "loss")] == list(range(1, 31))
    assert f"resuming after step {stopped}" in view.monitor.log_view.toPlainText()


def test_resume_on_a_run_the_cli_is_training_shows_its_sentence(qtbot, tiny, make_view, tmp_path):
    run = runs.create_run(tiny_spec(text_corpus(tmp_path), "elsewhere"))
    runs.write_state(run, state="cancelled")
    view = make_view()
    view.runs_tree.select_run(run.id)
    view._update_buttons()
    assert view.form.resume_button.isEnabled()
    with trained_elsewhere(run.id) as pid:  # a `llamadesk train --resume` began meanwhile
        view.form.resume_button.click()
        dialog = view.findChild(object, "errorDialog")
        assert dialog is not None and dialog.text() == f"Run '{run.id}' is already running in process {pid}."
        assert view.job is None and train_process._launched == {}  # no second runner
        assert view.runs_tree.topLevelItem(0).text(2) == "running" and not view.form.resume_button.isEnabled()


def test_closing_the_panel_leaves_the_job_running_and_a_new_panel_reattaches(
    qtbot, tiny, make_view, tmp_path
):
    corpus = text_corpus(tmp_path)
    first = make_view()
    run_id = _start(qtbot, first, data=[corpus], out="survivor", max_steps=24)
    pid = first.job.pid
    qtbot.waitUntil(lambda: len(_points(first, "loss")) >= 2, timeout=RUN_TIMEOUT_MS)
    first.shutdown()
    first.close()
    assert train_process.process_alive(pid)  # the job outlives the panel

    second = make_view()
    assert second.job is not None and second.job.run_id == run_id and second.job.pid is None
    changed = []
    second.adapters_changed.connect(lambda: changed.append(True))
    qtbot.waitUntil(lambda: bool(changed), timeout=RUN_TIMEOUT_MS)
    assert adapters.get_adapter("survivor").manifest["run_id"] == run_id
    assert [x for x, _y in _points(second, "loss")] == list(range(1, 25))  # the whole curve


def test_memory_refusal_shows_a_suggestion_that_can_be_applied(qtbot, tiny, make_view, tmp_path, monkeypatch):
    corpus = text_corpus(tmp_path)
    view = make_view()
    view.form.apply_values({"data": [corpus], "block_size": 256, "batch_size": 4, "grad_accum": 1})
    spec = view.form.spec_from_form()
    needed = memory.estimate(spec, tiny.config, "cpu").total
    monkeypatch.setattr(memory, "compute_device", lambda: "cpu")
    monkeypatch.setattr(memory, "available_memory", lambda device: needed - 1)

    view.form.update_estimate()
    qtbot.waitUntil(lambda: "Try" in view.form.memory_label.text(), timeout=30_000)
    assert not view.form.apply_button.isHidden()
    assert "would need about" in view.form.memory_label.text()
    _finish(qtbot, view.start_job())  # refused before any run or process exists
    assert view.job is None and runs.list_runs() == []

    suggestion = dict(view.form.suggestion())
    assert suggestion
    view.form.apply_suggestion()
    applied = view.form.spec_from_form()
    assert all(getattr(applied, key) == value for key, value in suggestion.items())
    qtbot.waitUntil(lambda: "fits" in view.form.memory_label.text(), timeout=30_000)
    assert "Memory: about" in view.form.memory_label.text()


def test_form_validation_and_kind_defaults(qtbot, tiny, make_view, tmp_path):
    view = make_view()
    assert view.form.base_combo.currentData() == "tiny"
    assert (view.form.kind_combo.currentData(), view.form.lr_edit.text(), view.form.epochs_spin.value()) == (
        "pt",
        "0.0002",
        1.0,
    )
    view.form.kind_combo.setCurrentIndex(view.form.kind_combo.findData("sft"))
    assert (view.form.lr_edit.text(), view.form.epochs_spin.value()) == ("0.0001", 2.0)
    view.form.update_estimate()  # no data chosen: said inline, before any background work
    assert "training data" in view.form.memory_label.text()
    view.start_job()
    qtbot.waitUntil(lambda: view.findChild(object, "errorDialog") is not None)

    qa = sft_corpus(tmp_path)
    view.refresh_corpora(select=qa)
    assert view.form.kind_combo.currentData() == "sft"
    spec = view.form.spec_from_form()
    assert (spec.kind, spec.data, spec.out, spec.alpha, spec.max_steps) == (
        "sft",
        [qa],
        "tiny-qa-sft",
        16,
        None,
    )


def test_guided_flow_pretrains_merges_and_sets_up_sft(qtbot, tiny, make_view, tmp_path):
    text_corpus(tmp_path, "english")
    (tmp_path / "zh.txt").write_text(
        "\n\n".join(f"第{i}段。北京是中国的首都。" * 3 for i in range(40)), "utf-8"
    )
    store.add_corpus([tmp_path / "zh.txt"], "chinese")
    qa = sft_corpus(tmp_path)
    view = make_view()
    library_changed = []
    view.library_changed.connect(lambda: library_changed.append(True))
    view.guide_button.click()
    assert view.guide.isVisibleTo(view) and not view.guide.merge_button.isEnabled()

    view.guide.pt_button.click()
    spec = view.form.spec_from_form()
    assert (spec.kind, spec.data, spec.out, spec.lr) == ("pt", ["chinese"], "tiny-zh-pt", 2e-4)
    _start(qtbot, view, max_steps=2)
    qtbot.waitUntil(lambda: view.job is None, timeout=RUN_TIMEOUT_MS)
    assert "✓" in view.guide.pt_status.text()
    assert view.guide.adapter_combo.currentText() == "tiny-zh-pt"
    assert view.guide.merged_name.text() == "tiny-zh-pt-merged"

    view.guide.merge_button.click()
    _finish(qtbot, view.task_bar.task)
    assert library_changed and library.get_model("tiny-zh-pt-merged").manifest["format"] == "merged"
    assert view.form.base_combo.findData(
        "tiny-zh-pt-merged"
    ) >= 0 and "(merged)" in view.form.base_combo.itemText(view.form.base_combo.findData("tiny-zh-pt-merged"))
    view.guide.sft_button.click()
    spec = view.form.spec_from_form()
    assert (spec.kind, spec.base, spec.data, spec.out) == (
        "sft",
        "tiny-zh-pt-merged",
        [qa],
        "tiny-zh-pt-merged-sft",
    )


def test_instruction_editor_saves_a_corpus_the_form_can_use(qtbot, tiny, make_view):
    from llamadesk.core.drafting import QAPair

    view = make_view()
    editor = view.open_dataset_editor()
    editor.set_pairs([QAPair(f"Question {i}?", f"Answer {i}.") for i in range(12)])
    _finish(qtbot, editor.save_as_corpus("private"))
    assert view.form.corpus_combo.currentData() == "private" and view.form.kind_combo.currentData() == "sft"
    editor.close()


def test_a_refused_drop_leaves_everything_as_it_was_and_clear_forgets_the_drops(
    qtbot, tiny, make_view, tmp_path
):
    zh = tmp_path / "zh.txt"
    zh.write_bytes("北京是中国的首都。人工智能正在改变世界。".encode("gbk"))
    blob = tmp_path / "blob.txt"
    blob.write_bytes(bytes(range(256)) * 8)
    qa = sft_corpus(tmp_path)
    view = make_view()
    form = (
        view.form.corpus_combo.currentData(),
        view.form.kind_combo.currentData(),
        view.form.name_edit.text(),
    )
    assert form[0] == qa

    _drop(view, blob)  # nothing readable: refused as a whole
    _finish(qtbot, view.task_bar.task)
    assert view.data.pending_paths == [] and not view.data.add_corpus_button.isEnabled()
    assert "Not added: blob.txt" in view.data.preview_view.toPlainText()

    _drop(view, zh)  # the samples show the GBK file decoded, with the encoding found
    _finish(qtbot, view.task_bar.task)
    preview = view.data.preview_view.toPlainText()
    assert "zh.txt · GB18030 (GBK)" in preview and "北京是中国的首都。人工智能正在改变世界。" in preview
    assert view.data.add_corpus_button.isEnabled() and view.data.clear_button.isEnabled()

    _drop(view, tmp_path / "gone.txt")  # gone before the preview could read it
    _finish(qtbot, view.task_bar.task)
    preview = view.data.preview_view.toPlainText()
    assert "Not added: gone.txt" in preview and "北京是中国的首都。" in preview  # the earlier drop stays
    assert view.data.pending_paths == [str(zh)] and view.data.add_corpus_button.isEnabled()
    assert (
        view.form.corpus_combo.currentData(),
        view.form.kind_combo.currentData(),
        view.form.name_edit.text(),
    ) == form

    view.data.clear_button.click()
    assert view.data.pending_paths == [] and not view.data.add_corpus_button.isEnabled()
    assert "Drop documents to see what they hold" in view.data.preview_view.toPlainText()


def test_edit_instructions_opens_a_copy_of_the_selected_corpus(qtbot, tiny, make_view, tmp_path):
    qa = sft_corpus(tmp_path)  # 80 pairs
    view = make_view()
    view.data.corpus_list.setCurrentRow(0)
    assert "user: Question 1: where do llamas live?" in view.data.preview_view.toPlainText()
    view.data.edit_instructions_button.click()
    editor = view._editor
    _finish(qtbot, editor.task_bar.task)
    assert len(editor.pairs()) == 80 and QAPair("Question 1: where do llamas live?", "In the Andes (1).") in (
        editor.pairs()
    )
    assert editor.name_edit.text() == f"{qa}-2" and f"'{qa}' stays as it is" in editor.origin_label.text()
    editor.close()


def test_the_form_says_how_many_optimizer_steps_and_warns_in_words(qtbot, tiny, make_view, tmp_path):
    write_alpaca(tmp_path / "eight.jsonl", 8)
    entry = store.add_corpus([tmp_path / "eight.jsonl"], "eight")
    examples = entry.manifest["conversations"]["train"]
    view = make_view()
    view.form.apply_values({"data": ["eight"], "epochs": 8.0})
    expected = plan.plan_steps(view.form.spec_from_form(), examples)
    text = view.form.plan_label.text()
    assert f"{expected.total_steps} optimizer steps</b> over {examples} training examples" in text
    assert f"effective batch {expected.effective_batch}" in text and "⚠" not in text

    view.form.apply_values({"epochs": 1.0})
    assert "too short to learn" in view.form.plan_label.text()
    view.form.apply_values({"epochs": 1000.0})
    assert "learnt long before the end" in view.form.plan_label.text()

    view.form.apply_values({"epochs": 100000.0})  # said, not clamped
    assert view.form.epochs_spin.value() == 100000.0 and view.form.plan_label.isHidden()
    view.form.update_estimate()
    assert "at most 1000" in view.form.memory_label.text()


LEARN = {
    "train_loss": {"before": 2.94, "after": 0.81},
    "validation_loss": {"before": 3.1, "after": 2.9},
    "examples": {"train": 8, "validation": 2},
    "samples": [
        {
            "prompt": "Where do llamas live?",
            "reference": "In the Andes.",
            "base": "Llamas are animals.",
            "adapter": "In the Andes.",
        }
    ],
}


def test_a_finished_run_shows_whether_it_learnt(qtbot, tiny, make_view, tmp_path):
    run = runs.create_run(tiny_spec(sft_corpus(tmp_path), "learnt", kind="sft"))
    runs.write_state(run, state="done", adapter_id="learnt", learn=LEARN)
    view = make_view()
    report = view.monitor.learn_report
    assert report.isHidden()
    view.runs_tree.setCurrentItem(view.runs_tree.topLevelItem(0))  # a past run: read from its state
    qtbot.waitUntil(lambda: not report.isHidden(), timeout=10_000)
    text = report.toPlainText()
    assert "It learnt its training examples: their loss fell from 2.94 to 0.81." in text
    assert "training examples" in text and "2.940" in text and "0.810" in text and "-72%" in text
    assert "validation examples" in text and "-6%" in text
    for words in ("Question: Where do llamas live?", "Base: Llamas are animals.", "With the adapter: In the"):
        assert words in text


def test_the_monitor_says_stopped_as_soon_as_the_runner_has(qtbot):
    monitor = RunMonitor()
    qtbot.addWidget(monitor)
    monitor.follow("r1")
    monitor.stopping()
    assert "Stopping" in monitor.stats_label.text()
    # The cancelled event, before the runner's process has exited.
    monitor.on_event({"event": "cancelled", "run_id": "r1", "step": 3, "checkpoint": 3, "total_steps": 30})
    assert (
        "stopped" in monitor.run_title.text() and "Resume continues from step 3" in monitor.stats_label.text()
    )
    assert "Stopped after step 3" in monitor.log_view.toPlainText()
    monitor.on_event({"event": "done", "run_id": "r1", "step": 30, "total_steps": 30, "adapter_id": "a"})
    assert monitor.learn_report.isHidden()  # a run from before learn reports shows none
