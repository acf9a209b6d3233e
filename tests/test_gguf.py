import json

import numpy as np
import pytest

from llamadesk.cli import main
from llamadesk.core import library
from llamadesk.core.errors import InvalidModelError


def _write_gguf(path, architecture: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_unsupported_architecture_refused(tmp_path):
    path = tmp_path / "gpt2.gguf"
    _write_gguf(path, "gpt2")
    with pytest.raises(InvalidModelError, match="'gpt2' model"):
        library.import_model(path)
    assert library.list_models() == []


def test_truncated_gguf_refused(tmp_path, starter_gguf):
    path = tmp_path / "half.gguf"
    with open(starter_gguf, "rb") as src:
        path.write_bytes(src.read(3_000_000))
    with pytest.raises(InvalidModelError):
        library.import_model(path)
    assert library.list_models() == []


@pytest.mark.slow
def test_starter_gguf_import_and_info(capsys, starter_gguf):
    assert main(["models", "import", str(starter_gguf), "--name", "SmolLM2-135M-Instruct"]) == 0
    capsys.readouterr()
    assert main(["models", "info", "SmolLM2-135M-Instruct", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "LlamaForCausalLM"
    assert info["context_length"] == 8192
    assert info["parameters"]["counted"] == info["parameters"]["formula"] == 134_515_008
    assert info["format"] == "gguf"
    assert info["quantization"] == "int4"  # the file's own precision (Q4_1)
    components = {c["name"]: c for c in info["parameters"]["breakdown"]["components"]}
    assert components["LM head"]["total"] == 0  # tied embeddings


def test_a_gguf_model_runs_on_the_cpu_at_its_files_own_precision(starter_gguf, tmp_path):
    from llamadesk.core.formats.gguf import read_summary, torch_precision

    summary = read_summary(starter_gguf)
    assert summary.main_type == "Q4_1"  # its layers (its embeddings are Q8_0)
    assert torch_precision(summary.main_type) == "int4"
    plain = tmp_path / "f32.gguf"
    _write_gguf(plain, "llama")
    assert torch_precision(read_summary(plain).main_type) == "none"


@pytest.mark.slow
def test_a_gguf_import_keeps_the_file_as_it_is(starter_gguf):
    """The library holds the file itself plus a few side files: no dequantised copy."""
    entry = library.import_model(starter_gguf, "starter")
    assert entry.gguf_path == entry.folder / "model.gguf"
    assert entry.gguf_path.read_bytes() == starter_gguf.read_bytes()
    assert not list(entry.folder.glob("*.safetensors"))
    on_disk = sum(p.stat().st_size for p in entry.folder.iterdir())
    assert on_disk <= 1.05 * starter_gguf.stat().st_size
    assert entry.manifest["dtype"] == "Q4_1"
    assert entry.counted_parameters() == entry.breakdown().total == 134_515_008


@pytest.mark.slow
def test_a_gguf_referenced_in_place_is_not_copied(starter_gguf):
    entry = library.import_model(starter_gguf, "starter-ref", in_place=True)
    assert entry.gguf_path == starter_gguf
    assert sum(p.stat().st_size for p in entry.folder.iterdir()) < 0.05 * starter_gguf.stat().st_size
    library.remove_model("starter-ref")
    assert starter_gguf.is_file()


@pytest.mark.slow
def test_torch_reads_a_gguf_model_as_transformers_does(starter_gguf):
    """Dequantising tensor by tensor into the model (q/k rows put back in Hugging Face order) gives
    exactly the weights transformers' own GGUF loader gives."""
    import torch
    from transformers import AutoModelForCausalLM

    entry = library.import_model(starter_gguf, "starter")
    ours = library.load_causal_lm(entry, torch.float32)
    theirs = AutoModelForCausalLM.from_pretrained(starter_gguf.parent, gguf_file=starter_gguf.name)
    ids = torch.tensor([[1, 504, 3575, 282, 4649, 314]])
    with torch.inference_mode():
        assert torch.equal(ours(ids).logits, theirs(ids).logits)


def test_a_gguf_cut_short_is_refused_by_its_header(tmp_path, starter_gguf):
    path = tmp_path / "cut.gguf"
    data = starter_gguf.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(InvalidModelError, match="damaged or incomplete|truncated"):
        library.import_model(path)
    assert library.list_models() == []
