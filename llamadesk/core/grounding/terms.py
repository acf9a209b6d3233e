"""The words BM25 counts: Chinese cut into words by jieba (search mode, so 西湖 and 杭州西湖 both
match), other scripts split at non-letters, English stemmed (employees → employe), and the commonest
function words of both dropped so they do not outweigh the words that carry the question."""

import functools
import logging
import re

from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN

_CJK_RANGE = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"[{_CJK_RANGE}]+|[^\W_{_CJK_RANGE}]+")
_CJK_RUN = re.compile(rf"[{_CJK_RANGE}]")
_STOP = frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_CHINESE)


@functools.cache
def _segmenter():  # noqa: ANN202 (jieba's Tokenizer)
    """jieba's dictionary loads once a process (about a second), on first use: a chat without
    documents never pays for it."""
    import jieba

    jieba.setLogLevel(logging.WARNING)  # not its "Building prefix dict" lines on the user's console
    return jieba.Tokenizer()


@functools.cache
def _stemmer():  # noqa: ANN202 (PyStemmer's Stemmer)
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    words: list[str] = []
    for run in _RUNS.findall(text.lower()):
        if _CJK_RUN.match(run):
            words.extend(w for w in _segmenter().cut_for_search(run) if w not in _STOP)
        elif run not in _STOP:
            words.append(_stemmer().stemWord(run))
    return words
