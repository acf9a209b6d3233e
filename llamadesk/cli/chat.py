"""`llamadesk chat MODEL [PROMPT]` and `llamadesk chats list|search|export|delete|rate|ratings`.

With a prompt, the reply streams to stdout and the figures (tokens/s, time to first token) go to
stderr, so `llamadesk chat m "…" > reply.txt` captures only the reply. Without one, a REPL:
Ctrl+C stops the reply being written, Ctrl+D or /exit leaves."""

import argparse
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from llamadesk.cli._output import human_bytes, print_json, stderr_progress
from llamadesk.core.errors import LlamaDeskError
from llamadesk.core.generation import GenerationSettings
from llamadesk.core.i18n import _

if TYPE_CHECKING:
    from llamadesk.core.history import ChatHistory

_REPL_HELP = "Type a message. Ctrl+C stops a reply; /reset starts over; /exit or Ctrl+D quits."


class _IntermixedParser(argparse.ArgumentParser):
    """Accepts options between MODEL and PROMPT (`chat m --temperature 0 "hi"`): plain argparse
    fills both positionals at once, leaving PROMPT empty and the text unrecognised."""

    _inner = False

    def parse_known_args(
        self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = GenerationSettings()
    p = subparsers.add_parser("chat", help="chat with a library model (one prompt, or a REPL without one)")
    p.__class__ = _IntermixedParser  # subparsers are built by the parent's class; this one needs more
    p.add_argument("model", help="the model's id in the library")
    p.add_argument("prompt", nargs="?", help="the message to answer; omit it for an interactive chat")
    p.add_argument("--adapter", help="answer with this LoRA adapter on top of the model")
    p.add_argument("--system", default="", help="the system prompt")
    p.add_argument("--temperature", type=float, default=defaults.temperature, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=defaults.top_p)
    p.add_argument("--top-k", type=int, default=defaults.top_k, help="0 = off")
    p.add_argument(
        "--repetition-penalty",
        type=float,
        help=f"default {defaults.repetition_penalty}; 1 (off) with --docs, so the model may quote them",
    )
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    p.add_argument("--seed", type=int, help="makes sampled replies reproducible")
    p.add_argument("--save", action="store_true", help="keep the conversation in the chat history")
    p.add_argument(
        "--docs",
        metavar="CORPUS_OR_PATH",
        help="answer from these documents: a corpus in the library, or files and folders",
    )
    p.add_argument(
        "--docs-k", type=int, default=3, metavar="N", help="passages to give the model (default 3)"
    )
    p.set_defaults(handler=_chat)

    p = subparsers.add_parser("chats", help="saved conversations")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("list", help="list conversations, newest first")
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_list)
    v = verbs.add_parser("search", help="conversations whose title or messages contain TEXT")
    v.add_argument("text")
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_list)
    v = verbs.add_parser("export", help="write a conversation as Markdown or JSON")
    v.add_argument("id", type=int)
    v.add_argument("--format", choices=["markdown", "json"], default="markdown")
    v.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    v.set_defaults(handler=_export)
    v = verbs.add_parser("delete", help="delete a conversation")
    v.add_argument("id", type=int)
    v.set_defaults(handler=_delete)
    v = verbs.add_parser(
        "rate",
        help="rate a reply: thumb, stars, note (what is not given stays as it was)",
        description="MESSAGE_ID is a reply's id, as `chats export ID --format json` lists it.",
    )
    v.add_argument("message_id", type=int)
    thumb = v.add_mutually_exclusive_group()
    thumb.add_argument("--up", dest="thumb", action="store_const", const=1, help="thumbs up")
    thumb.add_argument("--down", dest="thumb", action="store_const", const=-1, help="thumbs down")
    thumb.add_argument("--no-thumb", dest="thumb", action="store_const", const=0, help="take the thumb back")
    v.add_argument("--stars", type=int, choices=range(6), metavar="N", help="1 to 5; 0 takes them back")
    v.add_argument("--note", help="a remark on the reply; an empty one takes it back")
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_rate)
    v = verbs.add_parser("ratings", help="human ratings per model and adapter")
    v.add_argument("--model", help="only this model's replies")
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_ratings)


def _settings(args: argparse.Namespace) -> GenerationSettings:
    from llamadesk.core.grounding.prompt import quoting_allowed

    settings = GenerationSettings(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        repetition_penalty=args.repetition_penalty or GenerationSettings().repetition_penalty,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    return quoting_allowed(settings) if args.docs and args.repetition_penalty is None else settings


class _Session:
    """One conversation on the command line: the messages so far, saved as they complete if asked."""

    def __init__(self, args: argparse.Namespace) -> None:
        from llamadesk.core.engines import SwitchingEngine, llamacpp_problem

        self.settings = _settings(args)
        self.system = args.system
        self.adapter = args.adapter
        self.engine = SwitchingEngine()
        self.engine.load(args.model, stderr_progress())
        if args.adapter:
            self.engine.set_adapter(args.adapter)
        if llamacpp_problem():
            print(llamacpp_problem(), file=sys.stderr)
        self.documents = None
        self.passages = args.docs_k
        if args.docs:
            from llamadesk.core.grounding.index import open_index

            if not 1 <= args.docs_k <= 20:
                raise LlamaDeskError(_("--docs-k must be between 1 and 20."))
            self.documents = open_index(args.docs, stderr_progress())
        self.history = None
        self.conversation_id: int | None = None
        if args.save:
            self.history = _history()
        self.reset()

    def reset(self) -> None:
        self.messages: list[dict] = [{"role": "system", "content": self.system}] if self.system else []
        self.conversation_id = None

    def _save(self, role: str, content: str, **figures: object) -> int | None:
        """Commit one message when saving; returns its id."""
        if self.history is None:
            return None
        if self.conversation_id is None:  # the first question: one commit with its conversation
            conversation, question = self.history.start(
                content, system_prompt=self.system, settings=self.settings, model_id=self.engine.model_id
            )
            self.conversation_id = conversation.id
            return question.id
        return self.history.add_message(self.conversation_id, role, content, **figures).id

    def _unsave(self, message_id: int | None) -> None:
        """Take back a question that got no reply (it did not fit), with its chat if now empty."""
        if self.history is None or message_id is None:
            return
        self.history.delete_from(message_id)
        if not self.history.messages(self.conversation_id):
            self.history.delete(self.conversation_id)
            self.conversation_id = None

    def reply(self, prompt: str) -> None:
        """Stream the answer to `prompt` to stdout. Ctrl+C keeps what was written so far."""
        if not prompt.strip():
            raise LlamaDeskError(_("The prompt is empty; type a message to send."))
        asked = [*self.messages, {"role": "user", "content": prompt}]
        hits = self.documents.search(prompt, self.passages) if self.documents is not None else []
        if self.documents is not None and not hits:
            print(
                _("(Nothing in {docs} matches this question.)").format(docs=self.documents.label),
                file=sys.stderr,
            )
        question = self._save("user", prompt)  # committed first: a kill mid-reply loses only the reply
        pieces: list[str] = []
        interrupted = False
        try:
            from llamadesk.core.grounding.prompt import fit_for

            # The passages go to the model (as many as fit); the history keeps the question.
            prompted, fitting = fit_for(self.engine, asked, hits, self.settings)
            if hits and not fitting:
                print(
                    _("(The passages found are too long for the model's context; answering without them.)"),
                    file=sys.stderr,
                )
            hits = fitting
            with closing(self.engine.stream(prompted, self.settings, threading.Event())) as stream:
                for piece in stream:
                    pieces.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
        except KeyboardInterrupt:
            interrupted = True
        except LlamaDeskError:
            self._unsave(question)
            raise
        sys.stdout.write("\n")
        _print_sources(hits)
        sys.stdout.flush()
        text = "".join(pieces)
        self.messages = [*asked, {"role": "assistant", "content": text}]
        stats = self.engine.last_stats
        if interrupted or stats is None:
            self._save("assistant", text, model_id=self.engine.model_id, finish_reason="stopped")
            print("[stopped]", file=sys.stderr)
            return
        self._save(
            "assistant",
            text,
            model_id=self.engine.model_id,
            adapter_id=self.engine.active_adapter,
            settings=self.settings,
            tokens=stats.new_tokens,
            tokens_per_s=stats.tokens_per_s,
            ttft_s=stats.ttft_s,
            finish_reason=stats.finish_reason,
        )
        note = f" · {stats.truncated_turns} oldest messages left out to fit" if stats.truncated_turns else ""
        print(
            f"[{stats.new_tokens} tokens · {stats.tokens_per_s:.1f} tokens/s · "
            f"first token {stats.ttft_s:.2f} s{note}]",
            file=sys.stderr,
        )


def _print_sources(hits: list) -> None:
    """The passages the reply was given, numbered as the model saw them, after the reply."""
    if not hits:
        return
    print(_("Sources:"))
    for number, hit in enumerate(hits, 1):
        text = " ".join(hit.passage.text.split())
        print(f"  [{number}] {hit.passage.source}: {text[:200] + ('…' if len(text) > 200 else '')}")


def _chat(args: argparse.Namespace) -> int:
    if args.prompt is not None and not args.prompt.strip():
        raise LlamaDeskError(_("The prompt is empty; give a message, or none for an interactive chat."))
    session = _Session(args)
    if args.prompt is not None:
        session.reply(args.prompt)
        return 0
    info = session.engine.info()
    print(
        f"{info['model_id']} on {info['engine']}, {info['device']} "
        f"({info['dtype']}, {human_bytes(info['memory_bytes'])}). " + _REPL_HELP,
        file=sys.stderr,
    )
    while True:
        try:
            line = input(">>> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            continue
        command = line.strip()
        if command in ("/exit", "/quit"):
            return 0
        if command == "/reset":
            session.reset()
            print("Started a new conversation.", file=sys.stderr)
        elif command:
            try:
                session.reply(line)
            except LlamaDeskError as exc:  # a REPL survives a too-long message
                print(f"llamadesk: {exc}", file=sys.stderr)


def _history() -> "ChatHistory":
    """The chat history, saying first, where opening it found it damaged, what the recovery kept and
    where the damaged file is; the command then goes on with the recovered history, which holds
    everything that could be read, as a user who asked for a list or a save expects."""
    from llamadesk.core.history import ChatHistory

    history = ChatHistory()
    if history.recovered:
        print(f"llamadesk: {history.recovered}", file=sys.stderr)
    return history


def _list(args: argparse.Namespace) -> int:
    with _history() as history:
        found = history.search(args.text) if getattr(args, "text", None) else history.conversations()
    rows = [{"id": c.id, "title": c.title, "model_id": c.model_id, "updated": c.updated} for c in found]
    if args.json:
        print_json(rows)
    elif not rows:
        print("No conversations.")
    else:
        for row in rows:
            print(f"{row['id']:>5}  {row['updated'][:16].replace('T', ' ')}  {row['title']}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from llamadesk.core.history import export_json, export_markdown, write_export

    with _history() as history:
        conversation = history.get(args.id)
    if args.output:
        write_export(conversation, args.output, args.format)
        print(f"Wrote {args.output}", file=sys.stderr)
    elif args.format == "json":
        print_json(export_json(conversation))
    else:
        sys.stdout.write(export_markdown(conversation))
    return 0


def _delete(args: argparse.Namespace) -> int:
    with _history() as history:
        history.delete(args.id)
    print(f"Deleted conversation {args.id}.")
    return 0


def _rate(args: argparse.Namespace) -> int:
    with _history() as history:
        rating = history.rate(args.message_id, thumb=args.thumb, stars=args.stars, note=args.note)
    if args.json:
        print_json(rating.to_json() if rating else None)
    elif rating is None:
        print(f"Message {args.message_id} has no rating now.")
    else:
        print(f"Message {args.message_id}: {_describe(rating.thumb, rating.stars, rating.note)}")
    return 0


def _describe(thumb: int | None, stars: int | None, note: str | None) -> str:
    parts = [{1: "thumbs up", -1: "thumbs down"}.get(thumb or 0, "")]
    parts.append(f"{stars}/5 stars" if stars else "")
    parts.append(f"note: {note}" if note else "")
    return " · ".join(p for p in parts if p)


def _ratings(args: argparse.Namespace) -> int:
    with _history() as history:
        rows = history.ratings_summary(args.model)
    if args.json:
        print_json(rows)
    elif not rows:
        print("No rated replies yet.")
    else:
        names = [row["model_id"] + (f"+{row['adapter_id']}" if row["adapter_id"] else "") for row in rows]
        width = max(len("VARIANT"), *(len(n) for n in names))
        print(f"{'VARIANT':<{width}}  RATED     UP   DOWN  STARS")
        for name, row in zip(names, rows, strict=True):
            stars = f"{row['mean_stars']:.2f} ({row['starred']})" if row["starred"] else "–"
            print(f"{name:<{width}}  {row['rated']:>5}  {row['up']:>5}  {row['down']:>5}  {stars}")
    return 0
