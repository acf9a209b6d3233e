"""The starter GGUF registered by hand (the real import hashes and test-runs the file, too slow for
every test module), and GGUF LoRAs of random weights for it."""

import json
from pathlib import Path

from llamadesk.core import adapters, library, paths

SHA = "starter-test-sha"


def register_starter(root: Path, gguf_path: Path | None, model_id: str) -> None:
    """A library entry for the starter as the GGUF import writes it (file referenced in place)."""
    folder = root / "models" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": "gguf", "in_place": True, "sha256": SHA, "quantization": "int4", "dtype": "Q4_1"}
    if gguf_path is not None:
        manifest["gguf"] = str(gguf_path)
    (folder / library.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 8192}), encoding="utf-8")


def write_gguf_lora(path: Path, metadata: dict, scale: float, rank: int = 4) -> None:
    """A GGUF LoRA on every attention output projection: A random, B random times `scale` (zero:
    the adapter changes nothing)."""
    import gguf
    import numpy as np

    width, layers = int(metadata["llama.embedding_length"]), int(metadata["llama.block_count"])
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))  # llama.cpp scales by alpha / rank = 1
    for layer in range(layers):
        a = rng.standard_normal((rank, width)).astype(np.float32)  # PEFT's lora_A: (r, in)
        b = (rng.standard_normal((width, rank)) * scale).astype(np.float32)  # lora_B: (out, r)
        writer.add_tensor(f"blk.{layer}.attn_output.weight.lora_a", a)
        writer.add_tensor(f"blk.{layer}.attn_output.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def register_gguf_adapter(adapter_id: str, base_id: str, metadata: dict | None, scale: float = 0.0) -> None:
    """An adapter entry for `base_id` whose only form is a GGUF LoRA (none when `metadata` is None)."""
    folder = paths.adapters_dir() / adapter_id
    folder.mkdir(parents=True)
    manifest = {"base_id": base_id, "base_sha256": SHA, "kind": "imported"}
    (folder / adapters.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    if metadata is not None:
        write_gguf_lora(folder / adapters.GGUF_LORA, metadata, scale)
