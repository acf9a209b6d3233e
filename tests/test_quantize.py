"""Weight-only int8/int4 on tiny random Llamas: closeness to fp32, LoRA adapters on a quantised
base, the per-model setting in the library and on the command line."""

import json
import threading

import pytest

from llamadesk.cli import main
from llamadesk.core import adapters, library
from llamadesk.core.engine import ChatEngine
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from tests.test_adapters import make_adapter
from tests.test_engine import _grown_adapter

HELLO = [{"role": "user", "content": "Hello"}]
GREEDY = GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=20)
# Relative error of the logits against fp32 on random weights, which are harder to quantise than
# trained ones (no smooth rows): int8 stays well under 1%, int4 under 15%.
TOLERANCE = {"int8": 0.02, "int4": 0.15}


@pytest.fixture
def tiny(tiny_model_dir) -> library.ModelEntry:
    return library.import_model(tiny_model_dir, "tiny", in_place=True)


@pytest.fixture
def engine():
    engine = ChatEngine()
    yield engine
    engine.unload()


def _logits(engine: ChatEngine, text: str = "The capital of France is Paris."):
    import torch

    ids = torch.tensor([engine.tokenizer(text)["input_ids"]])
    with torch.inference_mode(), engine._adapter_context():
        return engine.model(input_ids=ids).logits.float()  # (1, seq, vocab)


def _relative_error(a, b) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantised_model_stays_close_to_fp32_and_is_smaller(tiny, engine, mode):
    from llamadesk.core.quantize import QuantizedLinear, weight_bytes

    engine.load("tiny")
    reference, full_bytes = _logits(engine), weight_bytes(engine.model)
    engine.load("tiny", quantization=mode)
    assert engine.info()["quantization"] == mode and engine.dtype == "float32"
    layers = [m for m in engine.model.modules() if isinstance(m, QuantizedLinear)]
    assert len(layers) == 2 * 7 + 1  # q k v o gate up down per layer, and the output layer
    assert _relative_error(_logits(engine), reference) < TOLERANCE[mode]
    assert weight_bytes(engine.model) < full_bytes
    assert "".join(engine.stream(HELLO, GREEDY, threading.Event())) and engine.last_stats.new_tokens > 0


def test_lora_adapters_switch_on_a_quantised_base(tiny, engine, tiny_model_dir, tmp_path):
    for name, seed in (("first", 1), ("second", 2)):
        adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / name, seed=seed), "tiny", name)
    engine.load("tiny")
    engine.set_adapter("first")
    full_first = _logits(engine)
    engine.set_adapter("second")
    full_second = _logits(engine)

    engine.load("tiny", quantization="int8")
    base = _logits(engine)
    engine.load_adapters(["first", "second"])
    assert bool((_logits(engine) == base).all())  # loaded, switched off: the quantised base exactly
    engine.set_adapter("first")
    assert _relative_error(_logits(engine), full_first) < TOLERANCE["int8"]
    engine.set_adapter("second")
    assert _relative_error(_logits(engine), full_second) < TOLERANCE["int8"]
    assert _relative_error(full_first, full_second) > 10 * TOLERANCE["int8"]  # the adapters matter
    engine.set_adapter(None)
    assert bool((_logits(engine) == base).all())
    assert engine.info()["quantization"] == "int8"


def test_an_adapter_with_its_own_output_layer_gets_it_quantised(tiny, engine, tiny_model_dir, tmp_path):
    """Its full-precision copy of the output layer (grown by new tokens) is quantised on loading,
    not copied bit for bit into the integer weight."""
    grown = _grown_adapter(tiny_model_dir, tmp_path / "grown", 8, with_tokenizer=True)
    adapters.import_adapter(grown, "tiny", "grown")
    engine.load("tiny")
    engine.set_adapter("grown")
    reference = _logits(engine, "北京是中国的首都")
    engine.load("tiny", quantization="int8")
    base = _logits(engine, "北京是中国的首都")
    engine.set_adapter("grown")
    quantised = _logits(engine, "北京是中国的首都")
    assert quantised.shape == reference.shape
    assert _relative_error(quantised, reference) < TOLERANCE["int8"]
    engine.set_adapter(None)
    assert bool((_logits(engine, "北京是中国的首都") == base).all())


def _weights(model_id: str) -> dict:
    from safetensors.torch import load_file

    return load_file(library.get_model(model_id).path / "model.safetensors")


def test_merging_reads_full_precision_weights_whatever_the_setting(tiny, tiny_model_dir, tmp_path):
    from llamadesk.core.merge import merge_adapter

    adapters.import_adapter(make_adapter(tiny_model_dir, tmp_path / "lora"), "tiny", "lora")
    merge_adapter("lora", "merged-full")
    library.set_quantization("tiny", "int4")
    merge_adapter("lora", "merged-int4")
    full, other = (_weights(name) for name in ("merged-full", "merged-int4"))
    assert full.keys() == other.keys()
    assert all(bool((full[k] == other[k]).all()) and full[k].is_floating_point() for k in full)


def test_setting_is_stored_atomically_and_survives_reload(tiny):
    assert tiny.quantization == "none"
    before = json.loads((tiny.folder / library.MANIFEST).read_text(encoding="utf-8"))
    entry = library.set_quantization("tiny", "int8")
    assert entry.quantization == "int8"
    after = json.loads((tiny.folder / library.MANIFEST).read_text(encoding="utf-8"))
    assert after == before | {"quantization": "int8"}
    assert library.get_model("tiny").quantization == "int8"
    assert library.model_info(library.get_model("tiny"))["quantization"] == "int8"
    assert [p.name for p in tiny.folder.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_engine_applies_the_stored_setting(tiny, engine):
    library.set_quantization("tiny", "int4")
    engine.load("tiny")
    assert engine.info()["quantization"] == "int4"
    engine.unload()
    assert engine.info()["quantization"] == "none"


def test_unknown_modes_are_refused(tiny, engine):
    with pytest.raises(LlamaDeskError, match="Unknown quantization 'int3'; choose one of: none, int8, int4"):
        library.set_quantization("tiny", "int3")
    assert library.get_model("tiny").quantization == "none"
    with pytest.raises(LlamaDeskError, match="Unknown quantization 'fp8'"):
        engine.load("tiny", quantization="fp8")
    assert engine.model is None


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sets_and_shows_the_quantization(tiny, capsys):
    code, out, _ = _run(capsys, "models", "set", "tiny", "--quantization", "int8", "--json")
    assert code == 0 and json.loads(out) == {"id": "tiny", "quantization": "int8", "engine": "auto"}
    code, out, _ = _run(capsys, "models", "info", "tiny")
    assert code == 0 and "quantization:   int8" in out
    code, out, _ = _run(capsys, "models", "list", "--json")
    assert json.loads(out)[0]["quantization"] == "int8"
    code, out, _ = _run(capsys, "models", "set", "tiny", "--quantization", "none")
    assert code == 0 and "quantization none" in out
    code, out, err = _run(capsys, "models", "set", "tiny", "--quantization", "int2")
    assert code == 2 and err.count("\n") == 1 and "choose one of: none, int8, int4" in err
    code, out, err = _run(capsys, "models", "set", "ghost", "--quantization", "int8")
    assert code == 2 and "no model 'ghost'" in err


def test_models_panel_shows_and_sets_the_quantization(qtbot, tiny):
    from llamadesk.ui.models_view import ModelsView

    library.set_quantization("tiny", "int4")
    view = ModelsView()
    qtbot.addWidget(view)
    try:
        box = view.quantization_box
        assert view.selected_id() == "tiny" and box.isEnabled() and box.currentData() == "int4"
        with qtbot.waitSignal(view.status_message) as message:
            box.activated.emit(box.findData("int8"))
        assert library.get_model("tiny").quantization == "int8" and "tiny" in message.args[0]
        library.remove_model("tiny")
        view.refresh()
        assert not box.isEnabled()
    finally:
        view.shutdown()
