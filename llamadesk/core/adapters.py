"""The adapter library: `adapters/<id>/` folders, each a PEFT LoRA adapter plus `llamadesk.json`.

An adapter only means something on top of the exact base it was made for, so every adapter records
its base's id and weights hash, and anything that puts it on a model checks that first. Adapters made
elsewhere are checked against the base from file headers alone (names and shapes), so a LoRA for a
different model is refused with a sentence naming both models instead of a crash or garbage output."""

import datetime as dt
import json
import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llamadesk.core import library, paths
from llamadesk.core.atomic import remove_folder, write_json
from llamadesk.core.disk import reporting_full_disk
from llamadesk.core.errors import (
    AlreadyExistsError,
    IncompatibleAdapterError,
    LlamaDeskError,
    NotFoundError,
)
from llamadesk.core.formats import hf
from llamadesk.core.i18n import _
from llamadesk.core.library import (
    DamagedEntry,
    damaged_entries,
    entry_folder,
    read_manifest,
    readable_entries,
)
from llamadesk.core.names import shown
from llamadesk.core.progress import Progress

MANIFEST = "llamadesk.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# The adapter as a GGUF LoRA, written at registration for a base that chats through llama.cpp.
GGUF_LORA = "adapter.gguf"
KINDS = ("pt", "sft", "imported")

# What an adapter folder may carry into the library. Tools such as LLaMA-Factory leave pickled
# training state (training_args.bin, optimizer.pt) beside the adapter: never copied, never loaded.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
)
_IMPORTED_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, "README.md", *TOKENIZER_FILES)

_EMBEDDING_MODULES = ("embed_tokens", "lm_head")
_PEFT_PREFIX = "base_model.model."
_LAYER_INDEX = re.compile(r"\.layers\.(\d+)\.")
_scores_lock = threading.Lock()
log = logging.getLogger(__name__)


class InvalidAdapterError(LlamaDeskError):
    """A folder is not a usable PEFT LoRA adapter: files missing, truncated or of another kind."""


@dataclass(frozen=True)
class AdapterEntry:
    id: str
    folder: Path  # adapters/<id>/: the PEFT files and the manifest
    manifest: dict

    @property
    def path(self) -> Path:
        """What PeftModel.from_pretrained takes (the same folder: adapters are always copied in)."""
        return self.folder

    @property
    def base_id(self) -> str:
        return self.manifest["base_id"]


# -- listing ------------------------------------------------------------------------------------------


def list_adapters(base_id: str | None = None) -> list[AdapterEntry]:
    """Every usable adapter, or only those made for `base_id`; damaged ones are `damaged_adapters`."""
    return [
        AdapterEntry(folder.name, folder, manifest)
        for folder, manifest in readable_entries(paths.adapters_dir(), MANIFEST)
        if base_id is None or manifest.get("base_id") == base_id
    ]


def damaged_adapters() -> list[DamagedEntry]:
    return damaged_entries(paths.adapters_dir(), MANIFEST)


def _not_found(adapter_id: str) -> NotFoundError:
    return NotFoundError(
        _("There is no adapter '{adapter_id}' in the library.").format(adapter_id=shown(adapter_id))
    )


def get_adapter(adapter_id: str) -> AdapterEntry:
    folder = entry_folder(paths.adapters_dir(), adapter_id)
    if folder is None:
        raise _not_found(adapter_id)
    manifest = read_manifest(folder, MANIFEST)
    if isinstance(manifest, DamagedEntry):
        raise InvalidAdapterError(
            _("The adapter '{adapter_id}' is damaged: {reason}; remove it and import it again.").format(
                adapter_id=adapter_id, reason=manifest.reason
            )
        )
    return AdapterEntry(folder.name, folder, manifest)


# -- compatibility ------------------------------------------------------------------------------------


def base_config_summary(config: dict) -> dict:
    """The parts of a model's config that decide whether an adapter's shapes can fit it."""
    return {
        "architecture": (config.get("architectures") or [config.get("model_type")])[0],
        "hidden_size": config.get("hidden_size"),
        "num_hidden_layers": config.get("num_hidden_layers"),
        "vocab_size": config.get("vocab_size"),
    }


_CONFIG_WORDS = {
    "architecture": "architecture",
    "hidden_size": "hidden size",
    "num_hidden_layers": "layers",
    "vocab_size": "vocabulary size",
}


def check_compatible(adapter: AdapterEntry, base: library.ModelEntry) -> None:
    """Refuse to put `adapter` on `base` unless `base` holds exactly the weights it was made for.

    The weights hash decides: two models may share every shape (a chat model and its pre-trained
    parent) yet an adapter trained on one gives wrong answers on the other."""
    wanted = adapter.manifest.get("base_sha256")
    have = base.manifest.get("sha256")
    if wanted and wanted == have:
        return
    made_for = adapter.manifest.get("base_id", "?")
    theirs = adapter.manifest.get("base_config") or {}
    ours = base_config_summary(base.config)
    differences = [
        f"{_CONFIG_WORDS[key]} {theirs[key]} where '{base.id}' has {ours[key]}"
        for key in _CONFIG_WORDS
        if theirs.get(key) is not None and theirs.get(key) != ours.get(key)
    ]
    if differences:
        raise IncompatibleAdapterError(
            _(
                "Adapter '{adapter}' was made for '{made_for}' ({differences}); use it with '{made_for}'."
            ).format(adapter=adapter.id, made_for=made_for, differences="; ".join(differences))
        )
    if made_for == base.id:
        raise IncompatibleAdapterError(
            _(
                "Adapter '{adapter}' was made for an earlier '{made_for}' (weights "
                "{wanted}), but the model now called '{base}' has other weights ({have}); "
                "import that model again or train the adapter again."
            ).format(
                adapter=adapter.id,
                made_for=made_for,
                wanted=str(wanted)[:12],
                base=base.id,
                have=str(have)[:12],
            )
        )
    raise IncompatibleAdapterError(
        _(
            "Adapter '{adapter}' was made for '{made_for}' (weights {wanted}), but '{base}' "
            "has other weights ({have}) although the same shapes; use it with '{made_for}'."
        ).format(
            adapter=adapter.id, made_for=made_for, wanted=str(wanted)[:12], base=base.id, have=str(have)[:12]
        )
    )


def _read_adapter_config(folder: Path) -> dict:
    if not folder.is_dir():
        raise InvalidAdapterError(
            _("{folder} is not a folder; choose the folder that holds {config_file}.").format(
                folder=folder, config_file=ADAPTER_CONFIG
            )
        )
    config_path = folder / ADAPTER_CONFIG
    if not config_path.is_file():
        raise InvalidAdapterError(
            _(
                "{folder} is not a PEFT adapter: it has no {config_file} (choose the "
                "folder that save_pretrained wrote)."
            ).format(folder=folder.name, config_file=ADAPTER_CONFIG)
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidAdapterError(
            _("{config_file} in {folder} is not valid JSON ({exc}).").format(
                config_file=ADAPTER_CONFIG, folder=folder.name, exc=exc
            )
        ) from exc
    if not isinstance(config, dict):
        raise InvalidAdapterError(
            _("{config_file} in {folder} does not hold an adapter configuration.").format(
                config_file=ADAPTER_CONFIG, folder=folder.name
            )
        )
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise InvalidAdapterError(
            _("{folder} is a '{peft_type}' adapter; LlamaDesk uses LoRA adapters only.").format(
                folder=folder.name, peft_type=config.get("peft_type")
            )
        )
    if config.get("task_type") not in (None, "CAUSAL_LM"):
        raise InvalidAdapterError(
            _("{folder} was made for the task '{task}'; a chat model needs CAUSAL_LM.").format(
                folder=folder.name, task=config["task_type"]
            )
        )
    if not isinstance(config.get("r"), int) or config["r"] < 1:
        raise InvalidAdapterError(
            _("{config_file} in {folder} has no valid rank 'r'.").format(
                config_file=ADAPTER_CONFIG, folder=folder.name
            )
        )
    return config


def _read_adapter_shapes(folder: Path) -> dict[str, list[int]]:
    """Tensor shapes keyed by the base module they change, e.g. 'model.layers.0.self_attn.q_proj.lora_A'."""
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        pickled = (folder / "adapter_model.bin").is_file()
        message = (
            _(
                "{folder} has no {weights_file} (only adapter_model.bin, a pickle LlamaDesk does not "
                "load; save it again with safe_serialization=True)."
            )
            if pickled
            else _("{folder} has no {weights_file}; copy the whole adapter folder again.")
        )
        raise InvalidAdapterError(message.format(folder=folder.name, weights_file=ADAPTER_WEIGHTS))
    try:
        header = hf.safetensors_header(weights)
    except LlamaDeskError as exc:
        raise InvalidAdapterError(
            _("The adapter in {folder}: {exc}").format(folder=folder.name, exc=exc)
        ) from exc
    shapes = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not key.startswith(_PEFT_PREFIX):
            raise InvalidAdapterError(
                _(
                    "{folder} is not a PEFT adapter for a causal language model (its tensor "
                    "'{key}' does not start with '{prefix}')."
                ).format(folder=folder.name, key=key, prefix=_PEFT_PREFIX)
            )
        module = key[len(_PEFT_PREFIX) :].removesuffix(".weight")
        # Embedding layers an adapter saves whole come with their wrapper's name in the key.
        for part in (".modules_to_save", ".original_module", ".base_layer"):
            module = module.removesuffix(part)
        shapes[module] = info["shape"]
    if not any(".lora_" in key for key in shapes):
        raise InvalidAdapterError(
            _("{weights_file} in {folder} holds no LoRA weights.").format(
                weights_file=ADAPTER_WEIGHTS, folder=folder.name
            )
        )
    return shapes


def _declared_rank(module: str, config: dict) -> int | None:
    """The rank adapter_config.json gives `module`: its `rank_pattern` entry where one matches, by
    PEFT's own rule (a pattern matches the name's end, after a dot), else `r`; None where a pattern
    is no valid regular expression, so the rank cannot be told."""
    for pattern, rank in (config.get("rank_pattern") or {}).items():
        try:
            if re.match(rf"(.*\.)?({pattern})$", module):
                return rank
        except re.error:
            return None
    return config["r"]


def _rank_problem(config: dict, shapes: dict[str, list[int]]) -> str | None:
    """Where the LoRA weights disagree with the ranks adapter_config.json gives them (PEFT builds
    matrices of the configured rank and then fails to load the saved ones), as a clause; else None."""
    for module in sorted({key.split(".lora_")[0] for key in shapes if ".lora_" in key}):
        for a_suffix, b_suffix in ((".lora_A", ".lora_B"), (".lora_embedding_A", ".lora_embedding_B")):
            a, b = shapes.get(module + a_suffix), shapes.get(module + b_suffix)
            rank = _declared_rank(module, config)
            if a is None or b is None or rank is None:
                continue
            # lora_A (r, in) and lora_B (out, r); lora_embedding_A (r, rows), lora_embedding_B (dim, r).
            actual = a[0] if a[0] != rank else b[-1]
            if actual != rank:
                return _(
                    "its adapter_config.json gives {module} rank {rank}, but its weights have rank {actual}"
                ).format(module=module, rank=rank, actual=actual)
    return None


def check_intact(entry: AdapterEntry) -> None:
    """Refuse, in one sentence, a library adapter whose files do not agree with each other (one
    registered before ranks were checked at import, or changed since): read from headers, before
    PEFT fails on it with a dump of its state dict."""
    try:
        problem = _rank_problem(_read_adapter_config(entry.folder), _read_adapter_shapes(entry.folder))
    except InvalidAdapterError as exc:
        log.warning("adapter %s is damaged: %s", entry.id, exc)
        problem = _("its files are missing, cut short or unreadable")
    if problem is not None:
        raise InvalidAdapterError(
            _("The adapter '{adapter}' is damaged: {problem}; remove it and import it again.").format(
                adapter=entry.id, problem=problem
            )
        )


def _base_module_shapes(base: library.ModelEntry, config: dict) -> dict[str, list[int]]:
    """Weight shapes of the base keyed by module name; a tied lm_head shares embed_tokens'."""
    shapes = {k.removesuffix(".weight"): v for k, v in base.weight_shapes().items()}
    if "lm_head" not in shapes and "model.embed_tokens" in shapes and config.get("tie_word_embeddings", True):
        shapes["lm_head"] = shapes["model.embed_tokens"]
    return shapes


def _target_matches(target: str, module: str) -> bool:
    """PEFT's rule for a list entry: the module's full name, or its last dotted part(s)."""
    return module == target or module.endswith("." + target)


def _check_targets(targets: object, modules: list[str], base: library.ModelEntry, hint: str) -> None:
    if targets in (None, "all-linear"):
        return
    if isinstance(targets, str):
        if not any(re.fullmatch(targets, m) for m in modules):
            raise IncompatibleAdapterError(
                _(
                    "This adapter targets modules matching '{targets}' ({hint}), but '{base}' has none."
                ).format(targets=targets, hint=hint, base=base.id)
            )
        return
    missing = [t for t in targets if not any(_target_matches(t, m) for m in modules)]
    if missing:
        raise IncompatibleAdapterError(
            _(
                "This adapter changes modules named {missing} ({hint}), but '{base}' has no "
                "such modules; it was made for a different kind of model."
            ).format(missing=", ".join(sorted(missing)), hint=hint, base=base.id)
        )


def _lora_base_shape(name: str, adapter: dict[str, list[int]]) -> list[int] | None:
    """The weight shape a LoRA expects of its base module, from its A and B matrices' shapes."""
    if f"{name}.lora_A" in adapter and f"{name}.lora_B" in adapter:
        # lora_A (r, in), lora_B (out, r); a Linear's weight is (out, in).
        return [adapter[f"{name}.lora_B"][0], adapter[f"{name}.lora_A"][1]]
    if f"{name}.lora_embedding_A" in adapter and f"{name}.lora_embedding_B" in adapter:
        # lora_embedding_A (r, num_embeddings), lora_embedding_B (embedding_dim, r); an Embedding's
        # weight is (num_embeddings, embedding_dim).
        return [adapter[f"{name}.lora_embedding_A"][1], adapter[f"{name}.lora_embedding_B"][0]]
    return None


def _is_embedding(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in _EMBEDDING_MODULES


def _resized_vocab(full: dict[str, list[int]], base_shapes: dict[str, list[int]]) -> int | None:
    """The vocabulary size of embeddings an adapter carries, where it differs from the base's.

    Embeddings and lm_head are (vocab, hidden): only the vocabulary may differ."""
    for module, shape in full.items():
        base_shape = base_shapes.get(module)
        if _is_embedding(module) and base_shape and shape[1:] == base_shape[1:] and shape[0] != base_shape[0]:
            return shape[0]
    return None


def _mismatch_message(
    module: str, expected: list[int], actual: list[int], hidden: int, base: library.ModelEntry, hint: str
) -> str:
    for theirs, ours in zip(expected, actual, strict=False):
        if theirs != ours and ours == hidden:
            return _(
                "This adapter was made for a model with hidden size {theirs} ({hint}), "
                "but '{base}' has {hidden}."
            ).format(theirs=theirs, hint=hint, base=base.id, hidden=hidden)
    return _(
        "This adapter expects {module} of shape {expected} ({hint}), but in '{base}' it is "
        "{actual}; it was made for a different model."
    ).format(module=module, expected=tuple(expected), hint=hint, base=base.id, actual=tuple(actual))


def check_adapter_folder_against_base(folder: Path, base: library.ModelEntry) -> dict:
    """Check an adapter folder fits `base` from headers alone; return its LoRA settings.

    Every tensor must name a module the base has, with the base's in/out features: the same test
    PEFT's loading would fail on, but as a sentence, and before anything is copied or loaded."""
    folder = Path(folder)
    config = _read_adapter_config(folder)
    adapter = _read_adapter_shapes(folder)
    problem = _rank_problem(config, adapter)
    if problem is not None:
        raise InvalidAdapterError(
            _(
                "{folder} cannot be loaded: {problem}; correct 'r' in its adapter_config.json or save "
                "the adapter again."
            ).format(folder=shown(folder.name), problem=problem)
        )
    base_config = base.config
    base_shapes = _base_module_shapes(base, base_config)
    hidden = int(base_config.get("hidden_size") or 0)
    declared = config.get("base_model_name_or_path") or None
    hint = declared or _("base not named in its adapter_config.json")

    layers = [int(m.group(1)) for key in adapter if (m := _LAYER_INDEX.search("." + key))]
    base_layers = int(base_config.get("num_hidden_layers") or 0)
    wrapped = {key.split(".lora_")[0] for key in adapter if ".lora_" in key}
    # Full weights an adapter carries (modules_to_save, or embeddings resized for new tokens).
    full = {key: shape for key, shape in adapter.items() if ".lora_" not in key}
    vocab_size = _resized_vocab(full, base_shapes)

    for module in sorted(wrapped | full.keys()):
        actual = base_shapes.get(module)
        if actual is None:
            continue  # reported below, once every present module's shapes were checked
        if vocab_size and _is_embedding(module):
            actual = [vocab_size, *actual[1:]]  # the new tokens' rows come with the adapter
        expected_shapes = [full[module]] if module in full else []
        if module in wrapped:
            lora_shape = _lora_base_shape(module, adapter)
            if lora_shape is None:
                raise InvalidAdapterError(
                    _("{folder} is incomplete: the LoRA weights of {module} lack their A or B half.").format(
                        folder=folder.name, module=module
                    )
                )
            expected_shapes.append(lora_shape)
        for expected in expected_shapes:
            if list(expected) != list(actual):
                raise IncompatibleAdapterError(
                    _mismatch_message(module, expected, actual, hidden, base, hint)
                )

    missing = sorted(m for m in wrapped | full.keys() if m not in base_shapes)
    if missing:
        if layers and max(layers) >= base_layers:
            raise IncompatibleAdapterError(
                _(
                    "This adapter was made for a model with {layers} or more layers ({hint}), "
                    "but '{base}' has {base_layers}."
                ).format(layers=max(layers) + 1, hint=hint, base=base.id, base_layers=base_layers)
            )
        raise IncompatibleAdapterError(
            _(
                "This adapter changes {missing} ({hint}), which '{base}' does not have; it "
                "was made for a different kind of model."
            ).format(missing=missing[0], hint=hint, base=base.id)
        )
    _check_targets(config.get("target_modules"), sorted(base_shapes), base, hint)

    targets = config.get("target_modules")
    return {
        "rank": config["r"],
        "alpha": config.get("lora_alpha", 8),
        "dropout": config.get("lora_dropout", 0.0),
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
        "modules_to_save": config.get("modules_to_save"),
        "use_dora": bool(config.get("use_dora")),
        "use_rslora": bool(config.get("use_rslora")),
        "declared_base": declared,
        "vocab_size": vocab_size,
    }


# -- registering --------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def register_adapter(
    adapter_id: str,
    build: Callable[[Path, Progress], None],
    manifest: dict,
    base: library.ModelEntry,
    progress: Progress | None = None,
    needed: int | None = None,
) -> AdapterEntry:
    """Build an adapter into a staging folder with `build(folder, progress)`, check it fits `base`
    and register it: the one way an adapter enters the library (imports and training alike).

    `manifest` supplies what the files cannot tell: kind, source, data_summary, hyperparameters.
    LoRA settings are read back from the files written, so the manifest cannot disagree with them.
    `needed`, the bytes the build writes where the caller can tell, is checked against the free
    space first; a disk that fills up anyway is reported as full, and nothing is left behind."""
    progress = progress or Progress()
    library.validate_id(adapter_id)
    kind = manifest.get("kind")
    if kind not in KINDS:
        raise ValueError(f"adapter kind must be one of {KINDS}, not {kind!r}")
    taken = _("An adapter named '{adapter_id}' already exists; choose another name.").format(
        adapter_id=adapter_id
    )
    busy = _(
        "Another process (PID {pid}) is adding an adapter named '{adapter_id}' right now; wait for it "
        "to finish or choose another name."
    ).format(adapter_id=adapter_id, pid="{pid}")
    failed = _("Saving the adapter failed: {reason}. The library is unchanged.")
    with library.adding_entry(
        paths.adapters_dir(), adapter_id, taken=taken, busy=busy, failed=failed, needed=needed
    ) as staging:
        build(staging, progress.sub(0.0, 0.9))
        settings = check_adapter_folder_against_base(staging, base)
        if base.gguf_path is not None:
            progress(0.9, _("Converting the adapter for llama.cpp"))
            settings |= write_gguf_lora(staging, base)
        full = (
            {"data_summary": None, "hyperparameters": None, "scores": {}}
            | manifest
            | settings
            | {
                "id": adapter_id,
                "base_id": base.id,
                "base_sha256": base.manifest.get("sha256"),
                "base_config": base_config_summary(base.config),
                "created": _now(),
            }
        )
        write_json(staging / MANIFEST, full)
        progress(1.0, _("Adapter registered"))
    return get_adapter(adapter_id)


def write_gguf_lora(folder: Path, base: library.ModelEntry) -> dict:
    """Write the adapter in `folder` as a GGUF LoRA for `base`'s GGUF file, so the llama.cpp engine
    switches it without reloading; what the manifest records of it. An adapter llama.cpp cannot
    take (added tokens, modules_to_save, DoRA) keeps only its PEFT form, with the reason recorded:
    the chat then runs it on the torch engine and says why."""
    from llamadesk.core.formats.gguf_lora import UnconvertibleAdapterError, convert_peft_lora

    try:
        convert_peft_lora(folder, base.gguf_path, folder / GGUF_LORA)
    except UnconvertibleAdapterError as exc:
        log.info("adapter in %s stays PEFT-only: %s", folder, exc)
        return {"gguf_lora_error": str(exc)}
    return {"gguf_lora_error": None}


def add_gguf_lora(entry: AdapterEntry, base: library.ModelEntry) -> AdapterEntry:
    """Give a registered adapter its GGUF LoRA (its base just got a GGUF to chat from)."""
    (entry.folder / GGUF_LORA).unlink(missing_ok=True)  # one made for an earlier GGUF of the base
    with reporting_full_disk(entry.folder):
        write_json(entry.folder / MANIFEST, entry.manifest | write_gguf_lora(entry.folder, base))
    return get_adapter(entry.id)


def import_adapter(
    src: Path, base_id: str, name: str | None = None, progress: Progress | None = None
) -> AdapterEntry:
    """Copy a PEFT LoRA folder made elsewhere (PEFT, LLaMA-Factory, ...) into the library for `base_id`.

    Its id is `name`, else the folder's name. A dropped adapter_config.json or weights file stands
    for its folder."""
    progress = progress or Progress()
    src = Path(src).expanduser()
    if not src.exists():  # before resolve(), which raises on a NUL byte: no such path can exist
        raise NotFoundError(_("{src} does not exist.").format(src=shown(str(src.absolute()))))
    src = src.resolve()
    if src.is_file() and src.name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        src = src.parent
    base = library.get_model(base_id)
    # An empty --name is a mistake to say, not a wish for the default.
    adapter_id = library.validate_id(library.derive_id(src) if name is None else name)
    if (paths.adapters_dir() / adapter_id).exists():
        raise AlreadyExistsError(
            _("An adapter named '{adapter_id}' already exists; choose another name.").format(
                adapter_id=adapter_id
            )
        )
    check_adapter_folder_against_base(src, base)  # refuse before copying anything
    files = [src / n for n in _IMPORTED_FILES if (src / n).is_file()]

    def build(staging: Path, step: Progress) -> None:
        for index, path in enumerate(files):
            step(index / len(files), _("Copying {path}").format(path=path.name))
            shutil.copy2(path, staging / path.name)

    # The copy, and for a base that chats through llama.cpp its GGUF LoRA, about as large again.
    copied = sum(path.stat().st_size for path in files)
    needed = copied * 2 if base.gguf_path is not None else copied
    manifest = {"kind": "imported", "source": str(src)}
    return register_adapter(adapter_id, build, manifest, base, progress, needed)


def remove_adapter(adapter_id: str) -> None:
    """Remove an adapter; a damaged one too, the way out for one whose manifest no longer reads."""
    folder = entry_folder(paths.adapters_dir(), adapter_id)
    if folder is None:
        raise _not_found(adapter_id)
    remove_folder(folder)


def update_scores(adapter_id: str, key: str, value: object) -> None:
    """Record an evaluation result in the adapter's manifest (rewritten atomically)."""
    with _scores_lock:
        entry = get_adapter(adapter_id)
        manifest = dict(entry.manifest)
        manifest["scores"] = dict(manifest.get("scores") or {}) | {key: value}
        with reporting_full_disk(entry.folder):
            write_json(entry.folder / MANIFEST, manifest)
