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
    from llamadesk.core.formats.gguf import gguf_weight_precision

    assert gguf_weight_precision(starter_gguf) == "int4"  # Q4_1 layers (its embeddings are Q8_0)
    plain = tmp_path / "f32.gguf"
    _write_gguf(plain, "llama")
    assert gguf_weight_precision(plain) == "none"
