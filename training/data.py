"""Training and evaluation examples for both trained models, from SQuAD v2.0 JSON.

Split BY ARTICLE (sorted titles), so no paragraph of a held-out article is ever seen in training:
test = titles[1::4] (5 of the 9 articles that training/calibrate.py holds out from the current model's
fit, so both models are compared on articles neither was fitted on), calibration = titles[3::8]
(Platt scaling, abstention threshold), train = the rest. With SQuAD-A's 18 articles: 11 train,
2 calibration, 5 test.

A question's candidates are the sentences of its paragraph (index.sentences.split_sentences); the
gold ones hold a gold answer_start (as training/calibrate.py labels candidates). Training pairs per answerable question:
its gold sentence(s), every other sentence of the paragraph (the hardest negatives: same topic,
same words) and the top retrieved sentences of other paragraphs of the same article. Unanswerable
questions give only negatives (the paragraph's most similar sentences), so that the probability
can say "nothing here answers it".
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np

from index.sentences import split_sentences

# Same-topic sentences of other paragraphs are where an open corpus misleads the model (docs/decisions/0012).
OTHER_PARAGRAPH_NEGATIVES = 4
UNANSWERABLE_NEGATIVES = 3


@dataclass
class Question:
    id: str
    question: str
    article: str
    doc: str
    answerable: bool
    sentences: list[str]  # the sentences of its paragraph, in order
    gold: set[int] = field(default_factory=set)  # indexes into sentences
    starts: list[int] = field(default_factory=list)  # gold answer offsets in the paragraph


def load_squad(path: str) -> tuple[dict[str, str], list[dict]]:
    """{doc id "title#paragraph": context} and every question as a dict (id, question, doc, article,
    answerable, sorted gold answer starts)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    texts, questions = {}, []
    for article in data:
        for pi, para in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{pi}"
            texts[doc_id] = para["context"]
            for qa in para["qas"]:
                starts = sorted({a["answer_start"] for a in qa.get("answers", [])})
                questions.append({"id": qa["id"], "question": qa["question"], "doc": doc_id,
                                  "article": article["title"], "answerable": not qa.get("is_impossible"),
                                  "starts": starts})
    return texts, questions


def split_articles(titles: list[str]) -> dict[str, str]:
    titles = sorted(set(titles))
    test, calib = set(titles[1::4]), set(titles[3::8])
    return {t: "test" if t in test else "calib" if t in calib else "train" for t in titles}


def load_questions(path: str) -> tuple[list[Question], dict[str, list[str]]]:
    """All questions with their paragraph's sentences; also {doc id: sentences}."""
    texts, raw = load_squad(path)
    paragraphs = {doc: [text[s.start:s.end] for s in split_sentences(text)] for doc, text in texts.items()}
    spans = {doc: split_sentences(text) for doc, text in texts.items()}
    out = []
    for q in raw:
        gold = {i for i, s in enumerate(spans[q["doc"]]) if any(s.start <= a < s.end for a in q["starts"])}
        if q["answerable"] and not gold:
            continue  # an answer start outside every sentence span (whitespace): cannot be scored
        out.append(Question(q["id"], q["question"], q["article"], q["doc"], q["answerable"], paragraphs[q["doc"]], gold,
                            list(q["starts"])))
    return out, paragraphs


def limit_questions(questions: list[Question], limit: int, seed: int) -> list[Question]:
    """``limit`` questions per split part (for the CI slice), chosen reproducibly."""
    if not limit:
        return questions
    rng = random.Random(seed)
    return rng.sample(questions, min(limit, len(questions)))


Group = tuple[str, list[tuple[str, float]]]  # (question, [(sentence, label), ...])


def questions_by_part(path, limit: int, seed: int, keep=None) -> tuple[dict[str, list[str]], dict[str, str], dict]:
    """(paragraphs, article -> part, part -> questions): the SQuAD file's questions split by article into train /
    calib / test, each part cut to ``limit`` (sampled with ``seed``) after ``keep`` filters them."""
    if not Path(path).exists():
        raise SystemExit(f"SQuAD file not found: {path} (give --squad PATH)")
    questions, paragraphs = load_questions(str(path))
    split = split_articles([q.article for q in questions])
    parts = {p: limit_questions([q for q in questions if split[q.article] == p and (keep is None or keep(q))],
                                limit, seed) for p in ("train", "calib", "test")}
    return paragraphs, split, parts


def training_groups(questions: list[Question], paragraphs: dict[str, list[str]], embedder, seed: int) -> list[Group]:
    """One group of labelled candidate sentences per question, shuffled reproducibly. Grouping lets
    training compare a question's candidates with each other (a listwise loss), not only one by one.
    ``embedder`` (the base MiniLM) ranks sentences of other paragraphs and of unanswerable questions'
    paragraphs by cosine."""
    rng = random.Random(seed)
    articles = sorted({q.article for q in questions})
    docs = sorted(d for d in paragraphs if d.rpartition("#")[0] in set(articles))
    sent_rows = [(d, i, s) for d in docs for i, s in enumerate(paragraphs[d])]
    sent_vecs = embedder.encode([s for _, _, s in sent_rows])
    q_vecs = embedder.encode([q.question for q in questions])
    by_article = {a: np.array([k for k, (d, _, _) in enumerate(sent_rows) if d.rpartition("#")[0] == a])
                  for a in articles}
    row_of = {(d, i): k for k, (d, i, _) in enumerate(sent_rows)}
    groups: list[Group] = []
    for q, qv in zip(questions, q_vecs):
        sents = q.sentences
        if q.answerable:
            cands = [(s, 1.0 if i in q.gold else 0.0) for i, s in enumerate(sents)]
            rows = by_article[q.article]
            sims = sent_vecs[rows] @ qv
            others = [rows[k] for k in np.argsort(-sims) if sent_rows[rows[k]][0] != q.doc][:OTHER_PARAGRAPH_NEGATIVES]
            cands += [(sent_rows[k][2], 0.0) for k in others]
        else:
            sims = np.array([sent_vecs[row_of[(q.doc, i)]] @ qv for i in range(len(sents))])
            cands = [(sents[k], 0.0) for k in np.argsort(-sims)[:UNANSWERABLE_NEGATIVES]]
        groups.append((q.question, cands))
    rng.shuffle(groups)
    return groups


# --- the judge (training/judge.py): sentence and sentence+successor units, labelled by gold answer offsets ---

JUDGE_HARD_NEGATIVES = 4  # same-article sentences of other paragraphs per answerable question


@dataclass(frozen=True)
class Unit:
    """A candidate the judge reads: one sentence, or a sentence with its successor (``pair``), as one span."""
    doc: str
    start: int
    end: int
    text: str
    pair: bool


@dataclass
class JudgeQuestion:
    id: str
    question: str
    article: str
    doc: str
    answerable: bool
    starts: list[int]

    def labels(self, units: list[Unit]) -> list[float]:
        """1.0 for a unit of this question's paragraph holding a gold answer start (every gold answer counts)."""
        return [float(self.answerable and u.doc == self.doc and any(u.start <= a < u.end for a in self.starts))
                for u in units]


def paragraph_units(doc: str, text: str) -> tuple[list[Unit], list[Unit]]:
    """(sentence units, sentence+successor units) of one paragraph; a pair is the text from the first sentence's
    start to the second's end, exactly as the paragraph joins them."""
    spans = split_sentences(text)
    sents = [Unit(doc, s.start, s.end, text[s.start:s.end], False) for s in spans]
    pairs = [Unit(doc, a.start, b.end, text[a.start:b.end], True) for a, b in zip(spans, spans[1:])]
    return sents, pairs


def load_judge_data(paths: list[str | Path]) -> tuple[dict[str, str], list[JudgeQuestion]]:
    """Paragraph texts and questions of several SQuAD v2.0 files together (their article titles must differ)."""
    texts: dict[str, str] = {}
    questions: list[JudgeQuestion] = []
    for path in paths:
        if not Path(path).exists():
            raise SystemExit(f"SQuAD file not found: {path}")
        t, raw = load_squad(str(path))
        if set(t) & set(texts):
            raise SystemExit(f"{path}: articles already read from another file: {sorted(set(t) & set(texts))[:3]}")
        texts.update(t)
        questions += [JudgeQuestion(q["id"], q["question"], q["article"], q["doc"], q["answerable"], q["starts"])
                      for q in raw]
    return texts, questions


def judge_pairs(questions: list[JudgeQuestion], texts: dict[str, str], embedder, pair_fraction: float,
                seed: int, hard_negatives: int = JUDGE_HARD_NEGATIVES) -> list[tuple[str, str, float]]:
    """(question, unit text, label) training pairs: every sentence of the question's paragraph, each of its
    sentence+successor units with probability ``pair_fraction``, and for answerable questions the
    ``hard_negatives`` most similar sentences (``embedder`` cosine) of other paragraphs of the same article.
    Every unit of an unanswerable question is a negative (its paragraph was written to look answering; other
    paragraphs may answer it, so they are not used)."""
    rng = random.Random(seed)
    docs = sorted({q.doc for q in questions})
    units = {d: paragraph_units(d, texts[d]) for d in docs}
    out: list[tuple[str, str, float]] = []
    hard: dict[str, list[str]] = {}
    answerable = [q for q in questions if q.answerable]
    if hard_negatives and answerable:
        articles = sorted({q.article for q in answerable})
        rows = [u for d in sorted(texts) if d.rpartition("#")[0] in set(articles) for u in paragraph_units(d, texts[d])[0]]
        vecs = embedder.encode([u.text for u in rows])
        qvecs = embedder.encode([q.question for q in answerable])
        by_article = {a: np.array([k for k, u in enumerate(rows) if u.doc.rpartition("#")[0] == a]) for a in articles}
        for q, qv in zip(answerable, qvecs):
            idx = by_article[q.article]
            order = idx[np.argsort(-(vecs[idx] @ qv))]
            hard[q.id] = [rows[k].text for k in order if rows[k].doc != q.doc][:hard_negatives]
    for q in questions:
        sents, pairs = units[q.doc]
        chosen = sents + [u for u in pairs if rng.random() < pair_fraction]
        out += [(q.question, u.text, lab) for u, lab in zip(chosen, q.labels(chosen))]
        out += [(q.question, t, 0.0) for t in hard.get(q.id, [])]
    rng.shuffle(out)
    return out
