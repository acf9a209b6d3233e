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
    with pytest.raises(InvalidModelError, match="cut.gguf is truncated: it holds .* copy it again"):
        library.import_model(path)
    assert library.list_models() == []


@pytest.mark.slow
def test_the_header_walk_reads_what_gguf_reader_reads(starter_gguf):
    """Names, numpy-order shapes, types, sizes and data offsets of every tensor, and every scalar
    field, as gguf.GGUFReader gives them (which takes seconds where the walk takes milliseconds)."""
    from gguf import GGUFReader, GGUFValueType

    from llamadesk.core.formats.gguf import read_summary

    summary = read_summary(starter_gguf)
    reader = GGUFReader(str(starter_gguf))
    assert summary.data_offset == reader.data_offset
    assert [(t.name, t.shape, t.type, t.n_elements, t.n_bytes, t.offset) for t in summary.tensors] == [
        (
            t.name,
            tuple(int(d) for d in reversed(t.shape.tolist())),
            t.tensor_type.name,
            int(t.n_elements),
            int(t.n_bytes),
            int(t.data_offset),
        )
        for t in reader.tensors
    ]
    scalars = {}
    for name, field in reader.fields.items():
        if field.types[0] == GGUFValueType.STRING:
            scalars[name] = bytes(field.parts[field.data[0]]).decode()
        elif field.types[0] != GGUFValueType.ARRAY:
            scalars[name] = field.parts[field.data[0]].tolist()[0]
    assert summary.fields == scalars  # token lists and merges are left out of both
    assert summary.architecture == "llama"
    assert summary.fields["tokenizer.chat_template"].startswith("{%")


def test_small_numeric_arrays_are_kept_and_token_lists_left_out(tmp_path):
    import gguf

    from llamadesk.core.formats.gguf import read_summary

    path = tmp_path / "arrays.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_head_count([4, 4, 8])  # per-layer head counts, as some converters write them
    writer.add_token_list(["a", "b", "c"])
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    summary = read_summary(path)
    assert summary.fields["llama.attention.head_count"] == [4, 4, 8]
    assert "tokenizer.ggml.tokens" not in summary.fields
    (tensor,) = summary.tensors
    assert (tensor.shape, tensor.type, tensor.n_bytes) == ((4, 8), "F32", 4 * 8 * 4)
    assert tensor.offset + tensor.n_bytes <= path.stat().st_size


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"GGUF",
        b"PK\3\4 a zip file, not a model",
        b"GGUF\2\0\0\0" + b"\xff" * 40,
        b"GGUF\1\0\0\0" + b"\0" * 20,
    ],
)
def test_garbage_is_refused_as_not_a_gguf_file(tmp_path, content):
    from llamadesk.core.formats.gguf import read_summary

    path = tmp_path / "junk.gguf"
    path.write_bytes(content)
    with pytest.raises(InvalidModelError, match="junk.gguf is not a readable GGUF file"):
        read_summary(path)
