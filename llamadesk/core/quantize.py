"""Weight-only int8 / int4 quantisation of a loaded model, for faster replies on a CPU.

Decoding one token reads every weight once, so on a CPU it is bound by memory bandwidth: smaller
weights are faster weights. The model's nn.Linear layers (attention q/k/v/o, MLP gate/up/down and
the output layer) are replaced, in memory only, by layers that hold integer weights and call
torch's CPU kernels from gpt-fast, `_weight_int8pack_mm` and `_weight_int4pack_mm_for_cpu`; norms,
embeddings and the KV cache stay in the model's dtype, and the files on disk are never touched.

- int8: symmetric, one scale per output channel, every Linear.
- int4: asymmetric, one scale and zero per group of 32 inputs, for the projections; the output
  layer gets int8, because in int4 it alone cost +4.5% perplexity on the starter (the projections
  in int4 cost nothing: the starter comes from a Q4_1 GGUF, whose weights already lie on a
  32-wide 4-bit grid), while its int8 copy costs +0.2%.

Why these kernels (measured on the starter, SmolLM2-135M, 2 threads, bench/quant.py and
bench/quant_results.json for the figures): both kernels are vectorised for bf16 activations only;
fed fp32 they were slower than the fp32 layer they replace (a 576x576 int8 product took ~110 us
against ~13 us for fp32), so activations are cast to bf16 around each call (bf16 activations alone
change the starter's perplexity by +0.03%). torch.ao's `quantize_dynamic` (int8 weights and
int8 activations, fbgemm) decodes about as fast as int8 here, but quantising the activations
per tensor ruins this model: perplexity 19.5 -> 74.9 (63.7 with per-channel weights), far from
"equal quality"; it is also deprecated in torch 2.13 and its layers are not nn.Linear, so PEFT
could not put adapters on them. Perplexity on the shipped samples (1,406 tokens) and greedy
decode through ChatEngine: fp32 19.483 at 26.4 tok/s, int8 19.648 (+0.85%) at 39.0 tok/s (1.48x),
int4 19.453 (-0.15%) at 49.2 tok/s (1.87x); quantize_dynamic 41.1 tok/s."""

import logging
from typing import Any

import torch
from torch import nn

from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.i18n import _
from llamadesk.core.library import QUANTIZATION_MODES

log = logging.getLogger(__name__)

# The activations the kernels multiply with. Both CPU kernels are vectorised for bf16 inputs only:
# with fp32 inputs they were slower than the plain fp32 layer they replace (see the docstring).
COMPUTE_DTYPE = torch.bfloat16
INT4_GROUP = 32  # inputs sharing one int4 scale and zero point


class QuantizationError(LlamaDeskError):
    """A quantisation mode LlamaDesk does not know, or one this machine cannot run."""


class QuantizedLinear(nn.Linear):
    """A frozen nn.Linear whose weight is held quantised; subclasses say how.

    It stays an nn.Linear so that PEFT wraps it like any other projection: LoRA adapters load,
    switch and switch off on a quantised base with PEFT's own code, the adapter's low-rank path
    running in full precision beside the quantised base weight. A full-precision weight loaded
    into it (an adapter's own copy of the output layer, via load_state_dict) is quantised on the
    way in, never copied bit for bit into the integer tensor. The integer weight is a buffer, not a
    parameter: integers cannot require gradients, and PEFT switches gradients of an adapter's
    layers on and off by walking their parameters."""

    def __init__(self, linear: nn.Linear) -> None:
        nn.Module.__init__(self)  # nn.Linear's own __init__ would allocate a full-precision weight
        self.in_features, self.out_features = linear.in_features, linear.out_features
        bias = linear.bias
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self._set_weight(linear.weight.detach())

    def _set_weight(self, weight: torch.Tensor) -> None:
        """Quantise `weight` (out, in) into this layer's tensors."""
        raise NotImplementedError

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        """(tokens, in) in COMPUTE_DTYPE -> (tokens, out)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._matmul(x.reshape(-1, self.in_features).to(COMPUTE_DTYPE)).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        weight = state_dict.get(prefix + "weight")
        if weight is not None and weight.is_floating_point():
            self.out_features = int(weight.shape[0])
            self._set_weight(weight)
            state_dict = dict(state_dict) | {prefix + "weight": self.weight}
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {type(self).__name__}"


class Int8Linear(QuantizedLinear):
    """Symmetric int8 with one scale per output channel: w[o, :] ~ q[o, :] * scale[o]."""

    def _set_weight(self, weight: torch.Tensor) -> None:
        w = weight.float()  # (out, in)
        # Rounded to the dtype they are stored in before use, so q is the best for the scale the
        # kernel will really multiply by.
        scales = (w.abs().amax(dim=1) / 127).clamp(min=1e-12).to(COMPUTE_DTYPE)  # (out,)
        q = torch.round(w / scales.float()[:, None]).clamp(-128, 127).to(torch.int8)
        self.register_buffer("weight", q)
        self.register_buffer("scales", scales, persistent=False)

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch._weight_int8pack_mm(x, self.weight, self.scales)


class Int4Linear(QuantizedLinear):
    """Asymmetric int4 in groups of INT4_GROUP inputs: w ~ (q - 8) * scale + zero, q in 0..15,
    packed two to a byte in the layout of torch's CPU int4 kernel."""

    def _set_weight(self, weight: torch.Tensor) -> None:
        w = weight.float()
        out, inp = w.shape
        groups = w.reshape(out, inp // INT4_GROUP, INT4_GROUP)
        low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
        # Scale and zero rounded to their stored dtype first, as for int8.
        scale = ((high - low) / 15).clamp(min=1e-6).to(COMPUTE_DTYPE).float()
        zero = (low + 8 * scale).to(COMPUTE_DTYPE).float()
        q = torch.round((groups - zero) / scale + 8).clamp(0, 15).to(torch.int32).reshape(out, inp)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)  # (out, in / 2) uint8
        self.register_buffer("weight", packed)
        pairs = torch.cat([scale, zero], dim=-1)  # (out, groups, 2)
        zeros = pairs.transpose(0, 1).contiguous().to(COMPUTE_DTYPE)  # (groups, out, 2)
        self.register_buffer("scales_and_zeros", zeros, persistent=False)

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.weight, INT4_GROUP, self.scales_and_zeros)


def check_mode(mode: str) -> str:
    if mode not in QUANTIZATION_MODES:
        raise QuantizationError(
            _("Unknown quantization '{mode}'; choose one of: {choices}.").format(
                mode=mode, choices=", ".join(QUANTIZATION_MODES)
            )
        )
    return mode


def quantize_model(model: Any, mode: str) -> int:
    """Replace `model`'s nn.Linear layers, in place, by `mode`'s quantised ones; how many were.

    Int4 needs each layer's inputs to split into whole groups; a layer that does not (tiny test
    models) gets int8 instead, which is the more accurate of the two."""
    check_mode(mode)
    if mode == "none":
        return 0
    if next(model.parameters()).device.type != "cpu":
        raise QuantizationError(_("Weight-only quantisation runs on the CPU only."))
    replaced = _replace_linears(model, mode)
    _own_remaining_weights(model)
    _return_freed_memory()
    log.info("%d linear layers quantised (%s)", replaced, mode)
    return replaced


def _replace_linears(model: Any, mode: str) -> int:
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    replaced = 0
    for name, module in list(model.named_modules()):
        if type(module) is not nn.Linear:  # exactly nn.Linear: never an adapter's or one done already
            continue
        int4 = mode == "int4" and module is not output and module.in_features % INT4_GROUP == 0
        layer = Int4Linear if int4 else Int8Linear
        parent_name, child = name.rpartition(".")[::2]
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer(module))
        replaced += 1
    return replaced


def _own_remaining_weights(model: Any) -> None:
    """Copy the weights left in float (embeddings, norms) into memory of their own.

    The loader maps the safetensors file and its tensors are views of that mapping; while any one
    of them lives, the whole mapping stays, and with it every float page the load read: on the
    starter in int4, RSS 1116 MiB after the load, 711 MiB once these ~115 MiB are copies."""
    for parameter in model.parameters():
        parameter.data = parameter.data.clone()


def _return_freed_memory() -> None:
    """Hand the float weights' freed heap back to the system (glibc keeps it otherwise: 711 -> 564
    MiB RSS on the starter in int4); nothing to do where the C library has no malloc_trim."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def weight_bytes(model: Any) -> int:
    """Bytes the model's parameters and buffers occupy, each storage counted once (tied weights)."""
    seen: dict[int, int] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())
