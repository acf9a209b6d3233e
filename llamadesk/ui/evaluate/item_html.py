"""One stored evaluation item as readable rich text: a multiple-choice question with its choices, the
model's pick and the right answer marked; a generation question with the expected answer, the reply,
its scores and the passages it was given; a perplexity document with its figures. Marks are symbols
and bold type, not colours, so they read the same in the light and the dark theme."""

import json
from html import escape

from PySide6.QtCore import QCoreApplication

from llamadesk.ui.headings import facts_table


def _paragraphs(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _no_question() -> str:
    text = QCoreApplication.translate(
        "ItemHtml", "The question text was not stored with this run, and its data file has changed or moved."
    )
    return f"<p><i>{text}</i></p>"


def _yes_no(value: object) -> str:
    return "✔" if value else "✘"


def _extra(item: dict, shown: set[str]) -> str:
    """Fields this view does not know (from a newer or older version): listed, not lost."""
    rest = {k: v for k, v in item.items() if k not in shown}
    if not rest:
        return ""
    rows = "".join(
        f"<tr><td>{escape(k)}&nbsp;&nbsp;</td><td>{escape(json.dumps(v, ensure_ascii=False))}</td></tr>"
        for k, v in rest.items()
    )
    return f"<p><small><table>{rows}</table></small></p>"


def multiple_choice_html(item: dict) -> str:
    pick, answer = item.get("prediction"), item.get("answer")
    question = item.get("question")
    parts = [
        f"<p><small>{escape(str(item.get('subject', '')))} · {escape(str(item.get('id', '')))}</small></p>",
        f"<p>{_paragraphs(question)}</p>" if question else _no_question(),
    ]
    options = item.get("options") or {}
    scores = item.get("scores") or {}
    rows = []
    for letter in sorted(set(options) | set(scores) | {pick, answer} - {None}):
        marks = []
        if letter == pick:
            marks.append(QCoreApplication.translate("ItemHtml", "◀ the model's pick"))
        if letter == answer:
            marks.append(QCoreApplication.translate("ItemHtml", "✔ right answer"))
        text = escape(options.get(letter, ""))
        cell = f"<b>{letter}. {text}</b>" if letter in (pick, answer) else f"{letter}. {text}"
        score = f"{scores[letter]:.2f}" if isinstance(scores.get(letter), (int, float)) else ""
        rows.append(
            f"<tr><td>{cell}&nbsp;&nbsp;</td><td>{'&nbsp; '.join(marks)}&nbsp;&nbsp;</td>"
            f"<td align='right'><small>{score}</small></td></tr>"
        )
    parts.append(f"<table cellpadding='2'>{''.join(rows)}</table>")
    verdict = (
        QCoreApplication.translate("ItemHtml", "Right")
        if item.get("correct")
        else QCoreApplication.translate("ItemHtml", "Wrong")
    )
    facts = [f"<b>{verdict}</b>"]
    if scores:
        facts.append(
            QCoreApplication.translate(
                "ItemHtml", "numbers: how strongly the model leaned to each letter (its logit)"
            )
        )
    if "shots" in item:
        facts.append(
            QCoreApplication.translate("ItemHtml", "{0} worked example(s) before it").format(item["shots"])
        )
    if item.get("truncated"):
        facts.append(QCoreApplication.translate("ItemHtml", "cut to fit the model's context"))
    if item.get("source"):
        facts.append(escape(str(item["source"])))
    parts.append(f"<p>{' · '.join(facts)}</p>")
    shown = {"subject", "id", "question", "options", "scores", "prediction", "answer", "correct"}
    parts.append(_extra(item, shown | {"shots", "truncated", "source"}))
    return "".join(parts)


def scores_line(item: dict) -> str:
    """Exact match, ROUGE-L and containment of one reply, in a few words."""
    rouge = item.get("rouge_l")
    return " · ".join(
        [
            QCoreApplication.translate("ItemHtml", "exact match {0}").format(
                _yes_no(item.get("exact_match"))
            ),
            QCoreApplication.translate("ItemHtml", "ROUGE-L {0}").format(
                f"{rouge:.3f}" if isinstance(rouge, (int, float)) else "—"
            ),
            QCoreApplication.translate("ItemHtml", "contains answer {0}").format(
                _yes_no(item.get("contains"))
            ),
        ]
    )


def reply_html(item: dict) -> str:
    """A reply with its scores and, for a grounded one, the passages it was given."""
    reply = item.get("reply", "")
    empty = QCoreApplication.translate("ItemHtml", "(empty reply)")
    parts = [
        f"<p>{_paragraphs(reply)}</p>" if reply.strip() else f"<p><i>{empty}</i></p>",
        f"<p><small>{scores_line(item)}</small></p>",
    ]
    passages = item.get("passages")
    if passages is not None and not passages:
        none = QCoreApplication.translate("ItemHtml", "No passage matched this question.")
        parts.append(f"<p><small><i>{none}</i></small></p>")
    elif passages:
        given = QCoreApplication.translate("ItemHtml", "Passages given with the question:")
        parts.append(f"<p><small><b>{given}</b></small></p>")
    for passage in passages or []:
        parts.append(
            f"<p style='margin-left:12px'><small>[{passage.get('number')}] "
            f"{_paragraphs(passage.get('text', ''))} <i>({escape(str(passage.get('source', '')))})</i>"
            "</small></p>"
        )
    return "".join(parts)


def generation_html(item: dict) -> str:
    question = item.get("question")
    titles = {
        "question": QCoreApplication.translate("ItemHtml", "Question"),
        "expected": QCoreApplication.translate("ItemHtml", "Expected"),
        "reply": QCoreApplication.translate("ItemHtml", "Reply"),
    }
    parts = [
        f"<p><small>{escape(str(item.get('id', '')))} · {escape(str(item.get('source', '')))}</small></p>",
        f"<p><b>{titles['question']}</b><br>{_paragraphs(question)}</p>" if question else _no_question(),
        f"<p><b>{titles['expected']}</b><br>{_paragraphs(item.get('answer', ''))}</p>",
        f"<p><b>{titles['reply']}</b></p>",
        reply_html(item),
    ]
    shown = {"id", "source", "question", "answer", "reply", "exact_match", "rouge_l", "contains", "passages"}
    parts.append(_extra(item, shown))
    return "".join(parts)


def perplexity_html(item: dict) -> str:
    rows = [
        (QCoreApplication.translate("ItemHtml", "Document"), item.get("document", "")),
        (QCoreApplication.translate("ItemHtml", "Tokens"), item.get("tokens", "")),
        (
            QCoreApplication.translate("ItemHtml", "Perplexity"),
            f"{item['perplexity']:.4f}" if "perplexity" in item else "",
        ),
    ]
    return facts_table([(k, escape(str(v))) for k, v in rows]) + _extra(
        item, {"document", "tokens", "perplexity", "nll_sum"}
    )


def item_html(kind: str, item: dict) -> str:
    """The readable view of one item of a run of `kind` ("ppl", "mc" or "gen")."""
    return {"mc": multiple_choice_html, "gen": generation_html}.get(kind, perplexity_html)(item)
