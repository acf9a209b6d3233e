"""Evaluation on llama.cpp, on the real starter GGUF: the logits it reads match llama.cpp's own at
every position, a greedy reply follows them, the chat is left as it was, perplexity agrees with the
torch model of the same weights, and `run_variants` scores a GGUF model and its GGUF LoRA there."""

import shutil
import threading

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

import numpy as np  # noqa: E402

from llamadesk.core import runtime  # noqa: E402
from llamadesk.core.corpus.reading import Document  # noqa: E402
from llamadesk.core.engines.llamacpp_engine import LlamaCppEngine  # noqa: E402
from llamadesk.core.evaluation import PerplexitySettings, prepare_perplexity  # noqa: E402
from llamadesk.core.evaluation.comparison import run_variants  # noqa: E402
from llamadesk.core.evaluation.perplexity import perplexity, tokenize_documents  # noqa: E402
from llamadesk.core.evaluation.scorers import LlamaCppScorer, TorchScorer  # noqa: E402
from llamadesk.core.generation import GenerationSettings  # noqa: E402
from llamadesk.core.progress import Progress  # noqa: E402
from tests.starter_fixtures import register_gguf_adapter, register_starter  # noqa: E402

MODEL_ID = "starter-eval"
TEXT = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. He trimmed the wick, "
    "polished the great lens and wrote the weather into his log: wind from the west, a falling "
    "glass, three ships passing north before midnight. "
) * 14
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(starter_gguf, starter_hf_dir, tmp_path_factory):
    """The starter as the GGUF import keeps it: the file, and the tokenizer files beside it."""
    root = tmp_path_factory.mktemp("eval-llamacpp")
    register_starter(root, starter_gguf, MODEL_ID)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (starter_hf_dir / name).is_file():
            shutil.copy(starter_hf_dir / name, root / "models" / MODEL_ID / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLAMADESK_HOME", str(root))
        # One thread: on a shared CPU two wait on each other at every barrier.
        patch.setattr(runtime, "_current", runtime.RuntimeOptions(threads=1))
        yield root


@pytest.fixture(scope="module")
def engine(home):
    engine = LlamaCppEngine()
    engine.load(MODEL_ID)
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def tokenizer(starter_hf_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(starter_hf_dir)


def test_logits_match_llama_cpps_own_at_every_position(engine, starter_gguf, tokenizer):
    ids = tokenizer(TEXT)["input_ids"]
    assert len(ids) > 512  # across a batch boundary: rows from two decode calls
    keep = len(ids) - 300  # from the first batch's middle to the end
    reference = llama_cpp.Llama(
        model_path=str(starter_gguf), n_ctx=1024, n_batch=512, logits_all=True, n_threads=1, verbose=False
    )
    try:
        reference.eval(ids)
        expected = np.array(reference.scores[len(ids) - keep : len(ids)])
    finally:
        reference.close()
    got = engine.logits(ids, keep)
    assert got.shape == expected.shape == (keep, engine.llm.n_vocab())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)  # identical here


def test_a_greedy_reply_follows_the_logits_and_the_chat_is_left_as_it_was(engine, tokenizer):
    settings = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=8)
    question = [{"role": "user", "content": "What is the capital of France?"}]
    before = "".join(engine.stream(question, settings, threading.Event()))

    ids = tokenizer("The capital of France is")["input_ids"]
    new = engine.greedy(ids, 5, frozenset(), None)
    assert len(new) == 5
    sequence = list(ids)
    for token in new:
        assert token == int(engine.logits(sequence, 1)[0].argmax())
        sequence.append(token)

    assert "".join(engine.stream(question, settings, threading.Event())) == before


def test_perplexity_agrees_with_the_torch_model_of_the_same_weights(engine, starter_hf_dir, tokenizer):
    """llama.cpp multiplies Q4_1 blocks by 8-bit activations, torch the dequantised floats: the
    figures differ by rounding only, so a shifted target or a lost token would show at once."""
    from transformers import AutoModelForCausalLM

    documents = tokenize_documents(tokenizer, [Document("light.txt", TEXT, "utf-8")])
    settings = PerplexitySettings(window=256, stride=128)
    on_llamacpp = perplexity(LlamaCppScorer(engine), documents, settings, Progress())
    model = AutoModelForCausalLM.from_pretrained(starter_hf_dir)
    on_torch = perplexity(TorchScorer(model), documents, settings, Progress())
    assert on_llamacpp["tokens"] == on_torch["tokens"] == len(documents[0].ids) - 1
    assert on_llamacpp["perplexity"] == pytest.approx(on_torch["perplexity"], rel=0.01)  # 0.2 % apart here


def test_a_gguf_model_and_its_lora_are_evaluated_on_llama_cpp(engine, home, tmp_path):
    register_gguf_adapter("noisy-eval", MODEL_ID, engine.llm.metadata, scale=0.05)
    data = tmp_path / "light.txt"
    data.write_text(TEXT, encoding="utf-8")
    base, adapted = run_variants(MODEL_ID, [None, "noisy-eval"], prepare_perplexity(data), Progress())
    for record in (base, adapted):
        assert record.settings["engine"] == "llama.cpp" and record.settings["dtype"] == "Q4_1"
    assert base.summary["tokens"] == adapted.summary["tokens"]
    assert base.summary["perplexity"] != pytest.approx(adapted.summary["perplexity"], rel=1e-3)


def test_the_evaluate_panel_scores_a_gguf_model_on_llama_cpp(qtbot, home):
    """The window's multiple-choice run on the starter's file, as a user starts it from the panel."""
    from llamadesk.core.evaluation import results
    from llamadesk.ui.evaluate_view import EvaluateView

    view = EvaluateView()
    qtbot.addWidget(view)
    try:
        view.refresh()
        view.model_combo.setCurrentIndex(view.model_combo.findData(MODEL_ID))
        view.set_kind("mc")
        view.set_data("sample:mmlu_sample")
        with qtbot.waitSignal(view.scores_changed, timeout=300_000):
            assert view.run_evaluation() is not None
        run = next(r for r in results.list_runs() if r.kind == "mc" and r.model_id == MODEL_ID)
        assert run.status == "complete" and run.settings["engine"] == "llama.cpp"
        assert run.summary["questions"] == 10
        assert view.scores_table.rowCount() >= 1
    finally:
        view.shutdown()
