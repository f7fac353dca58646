"""FAQ matching: BM25 (the `bm25s` library) over words and character trigrams, English and Dutch.

BM25 scores are not comparable between corpora, so each score is divided by the score the entry's
own question gets against itself: a confidence from 0 to 1 that the thresholds can speak about.
Typos are met twice: a query word not in the vocabulary is replaced by its closest vocabulary word
(`difflib`, when similar enough), and character trigrams still overlap where a word is misspelt.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import bm25s
import numpy as np
import numpy.typing as npt

from chat_service.bots.texts import fold

LANGUAGES = ("en", "nl")
# Words that say nothing about which question is meant (kept short: BM25's IDF does the rest).
_STOPWORD_TEXT = (
    "a an the is are was be do does did i you we my your our it to of in on at for and or what how when "
    "where which can could would will with me us this that there have has any from about please hi hello "
    "de het een zijn ben ik je jij jullie u wij mijn jouw uw ons onze te van op aan voor en wat hoe "
    "wanneer waar welke welk kan kunnen zou wil met mij dit dat er heb heeft hebben graag hallo hoi"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")
MIN_CORRECTABLE = 4
CORRECTION_CUTOFF = 0.75
MARGIN = 0.8  # the best answer is clear when the runner-up scores below this share of it
DOMINANCE = 0.25  # ... and far ahead when below this share
RANKED = 10  # entries a ranking lists


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in STOPWORDS]


def trigrams(word: str) -> list[str]:
    padded = f"#{word}#"
    return [padded[i : i + 3] for i in range(len(padded) - 2)] if len(word) >= 3 else []


def tokens(word_list: Sequence[str]) -> list[str]:
    out = list(word_list)
    for word in word_list:
        out.extend(trigrams(word))
    return out


@dataclass(frozen=True)
class Ranked:
    index: int  # the FAQ entry
    language: str  # which language's question matched best
    score: float  # BM25
    confidence: float  # score / the entry's own question's score


Decision = Literal["answer", "suggest", "miss"]


@dataclass(frozen=True)
class Match:
    decision: Decision
    ranking: list[Ranked]
    chosen: list[int]  # the entry answered, or the entries offered as buttons


class FaqIndex:
    """One BM25 index over every entry's question in each language."""

    def __init__(self, questions: Sequence[dict[str, str]]):
        """`questions[i]` maps a language to entry i's question in it."""
        self._docs: list[tuple[int, str]] = []
        corpus: list[list[str]] = []
        for index, by_language in enumerate(questions):
            for language in LANGUAGES:
                text = by_language.get(language)
                if text:
                    self._docs.append((index, language))
                    corpus.append(tokens(words(text)))
        self._vocabulary = sorted({w for doc in corpus for w in doc if not w.startswith("#") and len(w) > 2})
        self._known = {t for doc in corpus for t in doc}
        self._retriever: bm25s.BM25 | None = None
        self._own: npt.NDArray[np.float64] | None = None
        if corpus and any(corpus):
            self._retriever = bm25s.BM25()
            self._retriever.index(corpus, show_progress=False)
            self._own = np.array([max(self._scores(doc)[i], 1e-9) for i, doc in enumerate(corpus)], dtype=np.float64)

    def _scores(self, query: list[str]) -> npt.NDArray[np.float64]:
        assert self._retriever is not None
        known = [t for t in query if t in self._known]
        if not known:
            return np.zeros(len(self._docs))
        return np.asarray(self._retriever.get_scores(known), dtype=np.float64)

    def corrected(self, text: str) -> list[str]:
        """The query's words, each unknown one replaced by a close vocabulary word if there is one."""
        out = []
        for word in words(text):
            if word not in self._known and len(word) >= MIN_CORRECTABLE:
                close = difflib.get_close_matches(word, self._vocabulary, n=1, cutoff=CORRECTION_CUTOFF)
                out.append(close[0] if close else word)
            else:
                out.append(word)
        return out

    def rank(self, text: str, limit: int = RANKED) -> list[Ranked]:
        """The best `limit` entries by confidence, best first (each once, in its best language)."""
        if self._retriever is None or self._own is None:
            return []
        scores = self._scores(tokens(self.corrected(text)))
        confidence = np.minimum(scores / self._own, 1.0)
        ranked: list[Ranked] = []
        seen: set[int] = set()
        # Stable: equal confidences keep corpus order (entry order, English first).
        for doc in np.argsort(-confidence, kind="stable"):
            index, language = self._docs[int(doc)]
            if index in seen:
                continue
            seen.add(index)
            ranked.append(Ranked(index, language, round(float(scores[doc]), 4), round(float(confidence[doc]), 4)))
            if len(ranked) == limit:
                break
        return ranked

    def match(self, text: str, *, answer_at: float, suggest_at: float, suggestions: int = 3) -> Match:
        ranking = self.rank(text)
        if not ranking or ranking[0].confidence <= 0:
            return Match("miss", ranking, [])
        top = ranking[0]
        runner_up = ranking[1].confidence if len(ranking) > 1 else 0.0
        clear = runner_up < top.confidence * MARGIN or top.confidence >= 0.999
        # A short question matches part of an entry's: below the threshold, one entry far ahead of
        # every other (one word of it, e.g. "delivery") is still the answer.
        dominant = top.confidence >= (answer_at + suggest_at) / 2 and runner_up < top.confidence * DOMINANCE
        if (top.confidence >= answer_at and clear) or dominant:
            return Match("answer", ranking, [top.index])
        offered = [r.index for r in ranking if r.confidence >= suggest_at][:suggestions]
        return Match("suggest", ranking, offered) if offered else Match("miss", ranking, [])
