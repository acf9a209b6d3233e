"""Token ids for a run, built once from its corpora into `runs/<id>/data/` and read back as arrays.

Tokenizing once per run (not once per process, nor again on resume) means every process of a
distributed job and every resumed attempt sees exactly the same examples. Examples are stored
flat, as numpy files: `ids` and `labels` (int32, all examples end to end) and `offsets` (int64,
where each starts), so a corpus of any size costs 4 bytes a token and loads memory-mapped.

The order of examples is a permutation seeded by (seed, epoch): the same at every resume, the
same in every process, and independent of how many steps ran before."""

import json
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from llamadesk.core.atomic import staged_folder, write_json
from llamadesk.core.corpus.packing import IGNORE_INDEX, pack_texts, sft_example
from llamadesk.core.corpus.store import CorpusEntry
from llamadesk.core.errors import CorpusError
from llamadesk.core.i18n import _
from llamadesk.core.progress import Progress
from llamadesk.core.training.spec import TrainSpec

SPLITS = ("train", "validation")
SUMMARY = "summary.json"
# When a corpus's own split leaves nothing to train on (one short document whose one passage the
# split hash sent to validation), its data is split again here: every HELD_OUT_EVERY-th example
# for validation, as the corpus's default 5% would, and none when there are fewer examples.
HELD_OUT_EVERY = 20


@dataclass(frozen=True)
class ExampleSet:
    """Examples of one split: example i is ids[offsets[i]:offsets[i+1]] (and labels likewise)."""

    ids: Any  # numpy int32, flat
    labels: Any  # numpy int32, flat; None for pre-training, where labels are the ids
    offsets: Any  # numpy int64, len(examples) + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def example(self, index: int) -> tuple[Any, Any]:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        ids = self.ids[start:end]
        return ids, (ids if self.labels is None else self.labels[start:end])

    def tokens(self) -> int:
        return int(self.offsets[-1])


@dataclass(frozen=True)
class TokenData:
    train: ExampleSet
    validation: ExampleSet | None  # None when the corpus has no validation split
    summary: dict  # what the adapter manifest records about the data


def build_token_data(
    spec: TrainSpec, corpora: list[CorpusEntry], tokenizer: Any, folder: Path, progress: Progress
) -> dict:
    """Tokenize the corpora's splits into `folder` (atomically); return the data summary.

    When the training split gives no example but the corpora hold more (all of a one-document
    corpus in validation), both splits are pooled and split again (see HELD_OUT_EVERY); the summary
    then says `resplit`. CorpusError when even that gives no example, with what the corpus holds."""
    labels = spec.kind == "sft"
    with staged_folder(folder) as staging:
        counts: dict[str, dict] = {}
        for index, split in enumerate(SPLITS):
            step = progress.sub(index / 2, (index + 1) / 2)
            examples = _examples(spec, corpora, tokenizer, (split,), step)
            if split == "validation":
                examples = _first(examples, spec.max_eval_examples)
            counts[split] = _write_split(examples, staging, split, with_labels=labels)
        resplit = counts["train"]["examples"] == 0 and counts["validation"]["examples"] > 0
        if resplit:
            # Small by construction (the hash sent every unit to validation), so held in memory.
            pooled = list(_examples(spec, corpora, tokenizer, SPLITS, progress))
            held_out = set(range(HELD_OUT_EVERY - 1, len(pooled), HELD_OUT_EVERY))
            training = (e for i, e in enumerate(pooled) if i not in held_out)
            validation = _first((pooled[i] for i in sorted(held_out)), spec.max_eval_examples)
            counts["train"] = _write_split(training, staging, "train", with_labels=labels)
            counts["validation"] = _write_split(validation, staging, "validation", with_labels=labels)
        if counts["train"]["examples"] == 0:
            raise CorpusError(_no_examples_message(spec, corpora, counts["train"]))
        summary = {
            "kind": spec.kind,
            "corpora": [{"id": c.id, "name": c.name, "kind": c.kind} for c in corpora],
            "block_size": spec.block_size,
            "resplit": resplit,
        } | {f"{split}_{key}": value for split in SPLITS for key, value in counts[split].items()}
        write_json(staging / SUMMARY, summary)
    return summary


def _examples(
    spec: TrainSpec, corpora: list[CorpusEntry], tokenizer: Any, splits: tuple[str, ...], progress: Progress
) -> Iterator[tuple[list[int], list[int] | None]]:
    """The examples of the corpora's `splits`, in order (text packed across passages)."""
    split = splits[0]
    if spec.kind == "pt":
        texts = chain.from_iterable(c.iter_texts(s) for s in splits for c in corpora)
        for number, block in enumerate(pack_texts(texts, tokenizer, spec.block_size)):
            if number % 256 == 0:
                progress(0.5, _("Tokenizing the {split} text").format(split=split))
            yield block, None
        return
    conversations = chain.from_iterable(c.iter_conversations(s) for s in splits for c in corpora)
    for number, conversation in enumerate(conversations):
        if number % 64 == 0:
            progress(0.5, _("Tokenizing the {split} conversations").format(split=split))
        ids, labels = sft_example(conversation, tokenizer, spec.block_size)
        yield ids, labels


def _first(examples: Iterable, limit: int) -> Iterator:
    for number, example in enumerate(examples):
        if number >= limit:
            return
        yield example


def _write_split(examples: Iterable, folder: Path, split: str, *, with_labels: bool) -> dict:
    """Stream examples into flat arrays; an SFT example whose labels are all masked (its prompt
    alone fills the block) teaches nothing and is dropped, and counted."""
    import numpy as np

    ids, labels, offsets = array("i"), array("i"), array("q", [0])
    dropped = 0
    for example_ids, example_labels in examples:
        if with_labels and all(label == IGNORE_INDEX for label in example_labels):
            dropped += 1
            continue
        ids.extend(example_ids)
        if with_labels:
            labels.extend(example_labels)
        offsets.append(len(ids))
    np.save(folder / f"{split}-ids.npy", np.frombuffer(ids, dtype=np.int32))
    np.save(folder / f"{split}-offsets.npy", np.frombuffer(offsets, dtype=np.int64))
    counts = {"examples": len(offsets) - 1, "tokens": len(ids)}
    if with_labels:
        np.save(folder / f"{split}-labels.npy", np.frombuffer(labels, dtype=np.int32))
        counts |= {"label_tokens": sum(1 for label in labels if label != IGNORE_INDEX), "dropped": dropped}
    return counts


def _no_examples_message(spec: TrainSpec, corpora: list[CorpusEntry], counts: dict) -> str:
    names = ", ".join(f"'{c.id}'" for c in corpora)
    # Both splits: their examples were pooled before coming here.
    texts = sum(sum(c.manifest.get("passages", {}).values()) for c in corpora)
    conversations = sum(sum(c.manifest.get("conversations", {}).values()) for c in corpora)
    if spec.kind == "pt":
        if texts == 0 and conversations:
            message = _(
                "The corpus {names} gives no training examples for pre-training: it holds only "
                "conversations ({conversations}); train it with kind 'sft', or add plain text."
            )
        elif texts == 0:
            message = _("The corpus {names} gives no training examples: it holds no text; add documents.")
        else:
            message = _(
                "The corpus {names} gives no training examples: its text is shorter than one block of "
                "{block_size} tokens; lower the block size or add text."
            )
    elif conversations == 0 and texts:
        message = _(
            "The corpus {names} gives no training examples for instruction tuning: it holds only "
            "plain text ({texts} passages); train it with kind 'pt'."
        )
    elif conversations == 0:
        message = _("The corpus {names} gives no training examples for instruction tuning: it holds nothing.")
    else:
        message = _(
            "The corpus {names} gives no training examples: every conversation's prompt fills the "
            "{block_size}-token block ({dropped} dropped); raise the block size."
        )
    return message.format(
        names=names,
        conversations=conversations,
        texts=texts,
        block_size=spec.block_size,
        dropped=counts.get("dropped", 0),
    )


def split_note(summary: dict) -> str | None:
    """What a run tells the user when its data was split again (see build_token_data)."""
    if not summary.get("resplit"):
        return None
    if summary.get("validation_examples"):
        return _(
            "The corpus's own training split is too small to train on, so this run trains on all of "
            "its data except every {every}th example, kept for the eval loss."
        ).format(every=HELD_OUT_EVERY)
    return _(
        "The corpus's own training split is too small to train on, so this run trains on all of its "
        "data and reports no eval loss."
    )


def load_token_data(folder: Path) -> TokenData:
    """Memory-mapped arrays written by build_token_data."""
    import numpy as np

    summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))

    def split(name: str) -> ExampleSet:
        labels_path = folder / f"{name}-labels.npy"
        return ExampleSet(
            ids=np.load(folder / f"{name}-ids.npy", mmap_mode="r"),
            labels=np.load(labels_path, mmap_mode="r") if labels_path.is_file() else None,
            offsets=np.load(folder / f"{name}-offsets.npy"),
        )

    validation = split("validation")
    return TokenData(split("train"), validation if len(validation) else None, summary)


def epoch_order(count: int, seed: int, epoch: int) -> Any:
    """The order examples are visited in during `epoch`: a permutation fixed by (seed, epoch)."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(count)


def collate(examples: list[tuple[Any, Any]], pad_id: int) -> dict:
    """Right-padded tensors (batch, longest) for a forward pass; padding is masked out of both
    attention and loss. Pre-training blocks are all full, so they never pad."""
    import torch

    longest = max(len(ids) for ids, _labels in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, (ids, example_labels) in enumerate(examples):
        n = len(ids)
        input_ids[row, :n] = torch.from_numpy(ids.astype("int64"))
        labels[row, :n] = torch.from_numpy(example_labels.astype("int64"))
        attention[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


# -- vocabulary extension -------------------------------------------------------------------------

_LATIN_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
_SPM_LIMIT = re.compile(r"<= (\d+)")
SPM_WORD_START = "\u2581"  # SentencePiece's mark for a preceding space


def extend_vocabulary(tokenizer: Any, texts: Iterable[str], pieces: int) -> list[str]:
    """Train a SentencePiece BPE model of `pieces` on `texts` and add to `tokenizer` the pieces it
    splits into more than one token; return the tokens added.

    Only pieces without Latin letters or digits are added: an added token matches anywhere in the
    text, so a Latin subword such as 'the' would cut 'other' apart, while scripts written without
    spaces between words (Chinese, Japanese) have no such boundary to break, and they are what a
    Llama vocabulary covers worst (as in Chinese-LLaMA's extension)."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    read = {"lines": 0}

    def lines() -> Iterator[str]:
        for text in texts:
            for line in text.split("\n"):
                if line.strip():
                    read["lines"] += 1
                    yield line

    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(),
            model_writer=model,
            vocab_size=pieces,
            model_type="bpe",
            character_coverage=0.9995,
            max_sentence_length=65536,
            input_sentence_size=2_000_000,
            shuffle_input_sentence=True,
            minloglevel=2,
        )
    except RuntimeError as exc:
        if not read["lines"]:
            raise CorpusError(_("The corpus has no plain text to learn new vocabulary from.")) from exc
        limit = _SPM_LIMIT.search(str(exc))
        hint = (
            _("choose at most {limit}").format(limit=limit.group(1))
            if limit
            else _("choose fewer pieces or add text")
        )
        raise CorpusError(
            _("The corpus is too small for a vocabulary of {pieces} pieces; {hint}.").format(
                pieces=pieces, hint=hint
            )
        ) from exc
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    added: list[str] = []
    seen: set[str] = set()
    for index in range(processor.get_piece_size()):
        if processor.is_control(index) or processor.is_unknown(index) or processor.is_byte(index):
            continue
        piece = processor.id_to_piece(index).lstrip(SPM_WORD_START)
        if not piece or piece in seen or SPM_WORD_START in piece or _LATIN_OR_DIGIT.search(piece):
            continue
        seen.add(piece)
        if len(tokenizer(piece, add_special_tokens=False)["input_ids"]) > 1:
            added.append(piece)
    tokenizer.add_tokens(added)
    return added
