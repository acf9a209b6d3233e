"""Faults of the model, adapter and corpus libraries, each ending in exit 2 and one sentence: a full
disk (said as full, with the space needed, nothing left behind), an adapter whose rank disagrees
with its tensors, damaged weights and damaged manifests (listed, removable), two imports under one
name, and the small slips (an empty --name, control characters echoed raw, "only 1 are there")."""

import json
import os
import shutil
from pathlib import Path

import pytest

from llamadesk.core import adapters, disk, library, locks, paths
from llamadesk.core.corpus import store
from llamadesk.core.errors import ResourceError
from tests.faults.conftest import fill, one_sentence
from tests.test_adapters import make_adapter

MB = 1024**2


@pytest.fixture(scope="module")
def lora_src(tmp_path_factory, tiny_model_dir) -> Path:
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "lora")


@pytest.fixture(scope="module")
def wrong_rank_src(tmp_path_factory, lora_src) -> Path:
    """The adapter with rank 4 tensors whose adapter_config.json says r=8."""
    folder = tmp_path_factory.mktemp("bad") / "wrong-rank"
    shutil.copytree(lora_src, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(config | {"r": 8}))
    return folder


@pytest.fixture
def disk_home(small_disk, monkeypatch) -> Path:
    """A data home on a 96 MB disk of its own, for this process and the CLI's."""
    home = small_disk(96 * MB) / "home"
    home.mkdir()
    monkeypatch.setenv("LLAMADESK_HOME", str(home))
    return home


@pytest.fixture
def disk_cli(cli, disk_home):
    """`cli` on the small disk's data home."""
    return lambda *args: cli(*args, data_home=disk_home)


def everything_in(folder: Path) -> list[str]:
    """Entries and hidden staging folders alike."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_full_disk(done, needed: bool = True) -> None:
    assert done.returncode == 2, done.stderr
    sentence = one_sentence(done.stderr)
    assert "is full" in sentence and "Free some space" in sentence, sentence
    if needed:
        assert "this needs about" in sentence, sentence


# -- 6. a full disk ---------------------------------------------------------------------------------


def test_gguf_import_on_a_full_disk_says_so_and_leaves_nothing(cli, small_disk, starter_gguf):
    home = small_disk(200 * MB) / "home"
    home.mkdir()
    fill(home.parent, 101 * MB)  # the file fits, its side files and the margin do not
    done = cli("models", "import", str(starter_gguf), "--name", "g", data_home=home)
    assert_full_disk(done)
    assert everything_in(home / "models") == []


def test_meta_import_on_a_full_disk_says_so_and_leaves_nothing(disk_cli, disk_home, tmp_path):
    from tests.meta_fixtures import LLAMA2_PARAMS, random_weights, train_sentencepiece, write_release

    weights = random_weights(LLAMA2_PARAMS, vocab=400, seed=1)
    src = write_release(
        tmp_path / "llama-tiny", LLAMA2_PARAMS, weights, train_sentencepiece(), ranks=1, embedding_split=1
    )
    fill(disk_home.parent, 64 * 1024)
    assert_full_disk(disk_cli("models", "import", str(src), "--name", "meta"))
    assert everything_in(disk_home / "models") == []


def test_a_disk_that_fills_during_the_copy_is_said_as_full(disk_home, tiny_model_dir, monkeypatch):
    """The estimate passed, yet the disk filled up midway (another program wrote meanwhile)."""
    monkeypatch.setattr(disk, "MARGIN", 0)
    fill(disk_home.parent, 64 * 1024)  # less than the tiny model's weights
    with pytest.raises(ResourceError, match=r"is full: this needs about .* nothing was changed"):
        library.import_model(tiny_model_dir, "tiny")
    assert everything_in(disk_home / "models") == []


def test_models_set_on_a_full_disk_changes_nothing(disk_cli, disk_home, tiny_model_dir):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    manifest = (disk_home / "models" / "tiny" / library.MANIFEST).read_text()
    fill(disk_home.parent, 0)
    assert_full_disk(disk_cli("models", "set", "tiny", "--quantization", "int8"), needed=False)
    assert (disk_home / "models" / "tiny" / library.MANIFEST).read_text() == manifest
    assert not [p for p in (disk_home / "models" / "tiny").iterdir() if p.name.startswith(".")]


def test_adapter_import_and_corpus_add_on_a_full_disk(
    disk_cli, disk_home, tiny_model_dir, lora_src, tmp_path
):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    text = tmp_path / "notes.txt"
    text.write_text("A llama is a domesticated South American camelid.\n" * 2000)
    fill(disk_home.parent, 0)
    assert_full_disk(disk_cli("adapters", "import", str(lora_src), "--base", "tiny", "--name", "a"))
    assert_full_disk(disk_cli("corpus", "add", str(text), "--name", "notes"), needed=False)
    assert everything_in(disk_home / "adapters") == []
    assert everything_in(disk_home / "corpora") == []


def test_quantize_and_merge_on_a_full_disk(disk_cli, disk_home, tiny_model_dir, lora_src, monkeypatch):
    monkeypatch.setattr(disk, "MARGIN", 0)  # the tiny model and adapter fit in what is left
    library.import_model(tiny_model_dir, "tiny")
    adapters.import_adapter(lora_src, "tiny", "a")
    before = everything_in(disk_home / "models" / "tiny")
    fill(disk_home.parent, 0)
    assert_full_disk(disk_cli("models", "quantize", "tiny"))
    assert everything_in(disk_home / "models" / "tiny") == before
    assert_full_disk(disk_cli("adapters", "merge", "a", "--name", "merged"))
    assert everything_in(disk_home / "models") == ["tiny"]


# -- 7. an adapter whose rank disagrees with its tensors --------------------------------------------


def test_an_adapter_whose_rank_disagrees_is_refused_at_import(cli, tiny_model_dir, wrong_rank_src, home):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    done = cli("adapters", "import", str(wrong_rank_src), "--base", "tiny", "--name", "bad")
    assert done.returncode == 2
    sentence = one_sentence(done.stderr)
    assert "rank 8, but its weights have rank 4" in sentence
    assert everything_in(home / "adapters") == []


def _damage_rank(adapter_id: str) -> None:
    """What an adapter imported before the rank check, or edited since, looks like."""
    config_path = paths.adapters_dir() / adapter_id / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(config | {"r": 8}))


def test_a_library_adapter_with_a_wrong_rank_gives_one_sentence_in_chat_and_merge(
    cli, tiny_model_dir, lora_src
):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_src, "tiny", "bad")
    _damage_rank("bad")
    chat = cli("chat", "tiny", "hello", "--adapter", "bad", "--max-new-tokens", "2")
    merge = cli("adapters", "merge", "bad", "--name", "merged")
    for done in (chat, merge):
        assert done.returncode == 2
        assert "The adapter 'bad' is damaged: its adapter_config.json gives" in one_sentence(done.stderr)
    assert library.list_models()[0].id == "tiny" and len(library.list_models()) == 1


def test_the_window_says_the_same_sentence_for_that_adapter(qtbot, tiny_model_dir, lora_src):
    from llamadesk.ui.chat_worker import EngineWorker

    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_src, "tiny", "bad")
    _damage_rank("bad")
    worker = EngineWorker()
    failures: list[str] = []
    worker.load_failed.connect(failures.append)
    worker.adapter_failed.connect(failures.append)
    worker.load("tiny")
    worker.set_adapter("bad")
    worker.engine.unload()
    assert len(failures) == 1 and "\n" not in failures[0]
    assert failures[0].startswith("The adapter 'bad' is damaged")


# -- 8. damaged weights of a library model ----------------------------------------------------------


DAMAGED = "The files of model '{0}' are damaged or incomplete, so it cannot be loaded"


def test_truncated_weights_make_chat_and_eval_say_damaged(cli, tiny_model_dir, tmp_path, home):
    library.import_model(tiny_model_dir, "tiny")
    os.truncate(home / "models" / "tiny" / "model.safetensors", 50_000)
    data = tmp_path / "data.txt"
    data.write_text("The capital of France is Paris. A llama lives in the Andes.\n" * 20)
    chat = cli("chat", "tiny", "hello", "--max-new-tokens", "2")
    ppl = cli("eval", "ppl", "tiny", "--data", str(data))
    for done in (chat, ppl):
        assert done.returncode == 2
        assert one_sentence(done.stderr).startswith("llamadesk: " + DAMAGED.format("tiny"))


def test_a_truncated_gguf_makes_chat_and_eval_say_damaged(cli, starter_gguf, tmp_path, home):
    library.import_model(starter_gguf, "g")
    os.truncate(home / "models" / "g" / library.GGUF_FILE, 50_000)
    data = tmp_path / "data.txt"
    data.write_text("The capital of France is Paris. A llama lives in the Andes.\n" * 20)
    chat = cli("chat", "g", "hello", "--max-new-tokens", "2")
    ppl = cli("eval", "ppl", "g", "--data", str(data))
    for done in (chat, ppl):
        assert done.returncode == 2
        assert one_sentence(done.stderr).startswith("llamadesk: " + DAMAGED.format("g"))


# -- 9. damaged manifests stay listed and removable -------------------------------------------------


def _add_one_of_each(tiny_model_dir: Path, lora_src: Path, tmp_path: Path) -> None:
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapters.import_adapter(lora_src, "tiny", "a")
    text = tmp_path / "notes.txt"
    text.write_text("A llama is a domesticated South American camelid.\n" * 50)
    store.add_corpus([text], "notes")


@pytest.mark.parametrize(
    ("kind", "entry_id", "manifest"),
    [
        ("models", "tiny", library.MANIFEST),
        ("adapters", "a", "llamadesk.json"),
        ("corpus", "notes", "manifest.json"),
    ],
)
def test_a_damaged_manifest_is_listed_and_removable(
    cli, home, tmp_path, tiny_model_dir, lora_src, kind, entry_id, manifest
):
    _add_one_of_each(tiny_model_dir, lora_src, tmp_path)
    folder = home / {"models": "models", "adapters": "adapters", "corpus": "corpora"}[kind] / entry_id
    (folder / manifest).write_text("{broken")
    listed = cli(kind, "list")
    assert listed.returncode == 0
    line = next(line for line in listed.stdout.splitlines() if line.startswith(entry_id + " "))
    assert f"damaged: its {manifest} cannot be read" in line
    rows = json.loads(cli(kind, "list", "--json").stdout)
    assert [row["damaged"] for row in rows if row["id"] == entry_id][0].startswith(f"its {manifest}")
    shown_verb = "show" if kind == "corpus" else "info"
    info = cli(kind, shown_verb, entry_id)
    assert info.returncode == 2 and "is damaged" in one_sentence(info.stderr)
    removed = cli(kind, "remove", entry_id)
    assert removed.returncode == 0, removed.stderr
    assert not folder.exists()


def test_the_rest_of_the_app_skips_damaged_entries(home, tmp_path, tiny_model_dir, lora_src):
    _add_one_of_each(tiny_model_dir, lora_src, tmp_path)
    (home / "models" / "empty").mkdir()  # a folder with no manifest at all
    (home / "adapters" / "a" / "llamadesk.json").write_text("[]")
    assert [m.id for m in library.list_models()] == ["tiny"]
    assert [d.id for d in library.damaged_models()] == ["empty"]
    assert adapters.list_adapters() == [] and adapters.list_adapters("tiny") == []
    assert [d.reason for d in adapters.damaged_adapters()] == ["its llamadesk.json does not hold a manifest"]
    assert [c.id for c in store.list_corpora()] == ["notes"]


def test_the_models_and_adapters_panels_show_and_remove_damaged_entries(
    qtbot, home, tmp_path, tiny_model_dir, lora_src
):
    from llamadesk.ui.adapters_view import AdaptersView
    from llamadesk.ui.models_view import ModelsView

    _add_one_of_each(tiny_model_dir, lora_src, tmp_path)
    (home / "models" / "tiny" / library.MANIFEST).write_text("{broken")
    (home / "adapters" / "a" / "llamadesk.json").write_text("{broken")
    models_view = ModelsView()
    qtbot.addWidget(models_view)
    assert models_view.model_list.count() == 1
    assert models_view.model_list.item(0).text() == "tiny\ndamaged"
    assert "is damaged: its llamadesk.json cannot be read" in models_view.facts.text()
    assert models_view.remove_button.isEnabled()
    models_view.remove_model("tiny")
    assert models_view.model_list.count() == 0 and not (home / "models" / "tiny").exists()
    models_view.shutdown()

    adapters_view = AdaptersView()
    qtbot.addWidget(adapters_view)
    group = adapters_view.tree.topLevelItem(adapters_view.tree.topLevelItemCount() - 1)
    assert group.text(0) == "Damaged adapters" and group.child(0).text(0) == "a"
    adapters_view.tree.setCurrentItem(group.child(0))
    assert "is damaged" in adapters_view.details.toPlainText()
    assert adapters_view.remove_button.isEnabled() and not adapters_view.merge_button.isEnabled()
    adapters_view.remove_adapter("a")
    assert not (home / "adapters" / "a").exists()
    adapters_view.shutdown()


# -- two imports under one name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "lock", "words"),
    [
        (["models", "import", "{tiny}", "--name", "x"], "import-models-x", "adding a model named 'x'"),
        (["corpus", "add", "{text}", "--name", "x"], "import-corpora-x", "adding a corpus named 'x'"),
    ],
)
def test_an_import_under_a_name_being_imported_is_refused_at_once(
    cli, home, tmp_path, tiny_model_dir, args, lock, words
):
    text = tmp_path / "notes.txt"
    text.write_text("A llama is a domesticated South American camelid.\n")
    args = [a.format(tiny=tiny_model_dir, text=text) for a in args]
    with locks.holding(lock, wait=0, busy="held"):
        done = cli(*args)
    assert done.returncode == 2
    sentence = one_sentence(done.stderr)
    assert f"Another process (PID {os.getpid()}) is {words} right now" in sentence
    assert everything_in(home / args[0].replace("corpus", "corpora")) == []


def test_an_adapter_import_under_a_name_being_imported_is_refused_at_once(
    cli, home, tiny_model_dir, lora_src
):
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    with locks.holding("import-adapters-x", wait=0, busy="held"):
        done = cli("adapters", "import", str(lora_src), "--base", "tiny", "--name", "x")
    assert done.returncode == 2
    assert "is adding an adapter named 'x' right now" in one_sentence(done.stderr)
    assert everything_in(home / "adapters") == []


# -- 10. small slips --------------------------------------------------------------------------------


def test_an_empty_name_is_refused(cli, home, tiny_model_dir, lora_src):
    model = cli("models", "import", str(tiny_model_dir), "--name", "", "--in-place")
    assert model.returncode == 2
    assert "'' cannot be used as a name" in one_sentence(model.stderr)
    assert everything_in(home / "models") == []
    library.import_model(tiny_model_dir, "tiny", in_place=True)
    adapter = cli("adapters", "import", str(lora_src), "--base", "tiny", "--name", "")
    assert adapter.returncode == 2
    assert "'' cannot be used as a name" in one_sentence(adapter.stderr)


def test_control_characters_are_escaped_when_echoed(cli, tmp_path):
    for args in (
        ["models", "import", str(tmp_path / "a\x01b")],
        ["adapters", "import", str(tmp_path / "a\x01b"), "--base", "x"],
        ["adapters", "info", "a\x01b"],
        ["corpus", "show", "a\x01b"],
        ["corpus", "add", str(tmp_path / "a\x01b")],
    ):
        done = cli(*args)
        assert done.returncode == 2
        sentence = one_sentence(done.stderr)
        assert "\x01" not in sentence and "a\\x01b" in sentence, sentence


def test_a_nul_byte_in_a_path_or_name_is_escaped(home):
    from llamadesk.core.errors import NotFoundError

    for call in (
        lambda: library.import_model(Path("a\x00b")),
        lambda: adapters.get_adapter("a\x00b"),
        lambda: store.get_corpus("a\x00b"),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert "\x00" not in str(caught.value) and "a\\x00b" in str(caught.value)


def test_one_missing_shard_of_two_reads_right(tmp_path):
    from llamadesk.core.errors import InvalidModelError
    from llamadesk.core.formats.meta_pth import convert_meta_checkpoint
    from llamadesk.core.progress import Progress
    from tests.meta_fixtures import LLAMA2_PARAMS, random_weights, train_sentencepiece, write_release

    weights = random_weights(LLAMA2_PARAMS, vocab=400, seed=1)
    src = write_release(
        tmp_path / "release", LLAMA2_PARAMS, weights, train_sentencepiece(), ranks=2, embedding_split=1
    )
    (src / "consolidated.01.pth").unlink()
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidModelError, match="split into 2 files and only one is there"):
        convert_meta_checkpoint(src, tmp_path / "out", Progress())
