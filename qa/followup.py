"""Resolve a follow-up question against the chat history, without an LLM (milliseconds, plain tokens).

"When did he receive it?" after "Who received the secret letter?" cannot be retrieved on its own:
its only content word is "receive". The standalone question used for retrieval is the follow-up
with each referring word replaced by what it most likely stands for in the previous turn:

* he / him / his / she / her -> the person: the answer of a "who" question ("Kim Yong Chol, vice
  chairman ..." -> "Kim Yong Chol"), X of "Who is X?", else the first name (run of capitalised
  words) of the previous question, else of the previous answer - never a name the follow-up
  already uses ("What has Trump been exchanging with him?" after "With whom did Trump ...?").
* it / its / this / that (as a pronoun) -> the answer of a "which / what" question when that
  answer is a short noun phrase ("A series of letters."), else the first noun phrase of the
  previous question ("the secret letter" in "What did the secret letter convince ... of?").
* they / them / their / these / those -> the answer of a "which / what / who" question, else the
  last plural noun phrase of the previous question ("the joint military exercises").
* there -> the answer of a "where" question (or a place named in it); then -> the answer of a
  "when" question, else dropped. Existential "there is / would be" and "that" as a conjunction or
  determiner are left alone.

Only the referent goes into the question, not the whole previous turn: the previous question's
other words (and the previous answer) name the sentence already quoted and drag retrieval back
to it ("What had he and Pompeo claimed?" after "What was a huge reversal for the president?").
Earlier user turns are resolved the same way first, so "he" can be carried over several turns.
When a referring word has no referent (or the follow-up has at most one content word and no
referring word), the previous question is prepended as before.

What was tried and not kept: docs/decisions/0024-follow-up-resolution.md.
"""

from __future__ import annotations

import re

from index.text import STOPWORDS, content_stems, words

_PERSON = frozenset("he him his she her hers himself herself".split())
_SINGULAR = frozenset("it its this that".split())
_PLURAL = frozenset("they them their theirs these those".split())
_PLACE, _TIME = "there", "then"
_REFERRING = _PERSON | _SINGULAR | _PLURAL | {_PLACE, _TIME}
_POSSESSIVE = frozenset("his hers its their theirs".split())  # "her" is read as an object
_WH = frozenset("what which who whom whose where when why how".split())
_AUX = frozenset("is are was were be been do does did will would shall should can could may might must has have had".split())
_DO_AUX = frozenset("do does did will would shall should can could may might must".split())
_BE = frozenset("is are was were be been would will".split())
_DETERMINERS = frozenset("the a an his her its their this that these those whose".split())
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
# An answer this short is a phrase ("In the room when Trump tweeted he was cancelling Pompeo's trip."), not a
# quoted sentence (the extractive mode's answers: 27 words for "Mattis announced Tuesday, in another ...").
_PHRASE_WORDS = 12
# "who is X?" names X as the person a later "he"/"she" stands for.
_WHO_IS = re.compile(r"\s*who\s+(?:is|was|are|were)\s+(.+?)\s*\??\s*$", re.IGNORECASE)
# "Which trip was ...?": a later "it" is "the trip".
_WHICH_NOUN = re.compile(r"\s*(?:\w+\s+)?(?:which|what)\s+([a-z]\w*)\s+(?:is|are|was|were|did|does|do|has|have|had|will|would)\b",
                         re.IGNORECASE)
# A lead starting with one of these is a clause or a pronoun, not a referent: "No plans to suspend more of them."
# is no referent for "them" (the shape of a held-out follow-up of issue #13).
_NOT_A_LEAD = frozenset("that to yes no because it he she they".split())
_LEAD_STOP = re.compile(r"[,.;:!?“”\"(]| who | which | when | where | that | because ", re.IGNORECASE)


def needs_history(question: str) -> bool:
    return any(w in _REFERRING for w in words(question)) or len(content_stems(question)) <= 1


def _last_user(history: list[dict[str, str]]) -> tuple[list[str], list[str]]:
    """(user questions, assistant answers) paired in order; an answer is "" when missing."""
    questions, answers = [], []
    for t in history:
        content = (t.get("content") or "").strip()
        if t.get("role") == "user" and content:
            questions.append(content)
            answers.append("")
        elif t.get("role") == "assistant" and questions and not answers[-1]:
            answers[-1] = content
    return questions, answers


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _bare(tok: str) -> str:
    return re.sub(r"['’]s$", "", tok, flags=re.IGNORECASE).lower()


def _names(text: str) -> list[str]:
    """Runs of capitalised words (not the first word of the text, not question words, not days/months)."""
    toks = _tokens(text)
    runs, cur = [], []
    for i, t in enumerate(toks):
        lower = _bare(t)
        capital = t[:1].isupper() and lower not in STOPWORDS and not (i == 0 and lower in _WH | _AUX)
        if capital and not (i == 0 and lower in STOPWORDS):
            cur.append(re.sub(r"['’]s$", "", t))
            if re.search(r"['’]s$", t):  # "Pompeo's trip": the name ends at the possessive
                runs.append(" ".join(cur))
                cur = []
        elif cur:
            runs.append(" ".join(cur))
            cur = []
    if cur:
        runs.append(" ".join(cur))
    return runs


def _lead(answer: str, max_words: int = 7) -> str:
    """The answer's leading phrase ("Kim Yong Chol, vice chairman ..." -> "Kim Yong Chol"), if short."""
    lead = _LEAD_STOP.split(" " + answer.strip() + " ", maxsplit=1)[0].strip()
    ws = lead.split()
    if not ws or len(ws) > max_words or ws[0].lower() in _NOT_A_LEAD:
        return ""
    return re.sub(r"['’]s$", "", lead)


def _wh(question: str) -> str:
    """The question word that says what the previous answer names ("with whom" -> "who")."""
    for w in words(question)[:3]:
        if w in ("who", "whom", "whose"):
            return "who"
        if w in _WH:
            return w
    return ""


def _noun_phrases(text: str, skip_names: bool = False) -> list[tuple[str, bool]]:
    """Determiner-led noun phrases, as (text, plural): "the secret letter" in "What did the secret letter
    convince Pompeo of?". Without a tagger, the verb after a do-auxiliary's subject is recognised by position:
    the last word of the run before a name, a stopword or the end."""
    toks = _tokens(text)
    lowers = [_bare(t) for t in toks]
    is_word = [bool(re.match(r"\w", t)) for t in toks]
    phrases = []
    do_support = any(w in _DO_AUX for w in lowers[:3])

    def run_from(j: int) -> int:
        start = j
        while j < len(toks) and is_word[j] and lowers[j] not in STOPWORDS and j - start < 4 \
                and (j == start or not toks[j][:1].isupper() or toks[j - 1][:1].isupper()):
            j += 1
        return j

    i = 0
    while i < len(toks):
        possessive = bool(re.search(r"['’]s$", toks[i])) and toks[i][:1].isupper()
        if not (lowers[i] in _DETERMINERS or possessive):
            i += 1
            continue
        j = run_from(i + 1)
        run = toks[i + 1 : j]
        if do_support and not phrases and len(run) >= 2 and (j >= len(toks) or not is_word[j] or toks[j][:1].isupper()):
            run, j = run[:-1], j - 1  # "did the secret letter convince Pompeo" -> "the secret letter"
        if not run:
            i += 1
            continue
        if skip_names and all(t[:1].isupper() for t in run) and not possessive:
            i = j
            continue  # "the United States": a name, not a thing "it" would stand for
        head = run[-1]
        plural = head.lower().endswith("s") and not head.lower().endswith("ss") and not head[:1].isupper()
        phrase = (["the"] if lowers[i] == "whose" else [toks[i]]) + run
        phrases.append((" ".join(phrase), plural))
        i = max(j, i + 1)
    return phrases


def _plural_phrase(question: str) -> str:
    """The last plural noun phrase, with or without a determiner ("joint military exercises")."""
    toks = [t for t in _tokens(question) if re.match(r"\w", t)]
    for k in range(len(toks) - 1, -1, -1):
        t = toks[k]
        if t.lower().endswith("s") and not t.lower().endswith("ss") and t.lower() not in STOPWORDS and not t[:1].isupper():
            start = k
            while start > 0 and toks[start - 1].lower() not in STOPWORDS and not toks[start - 1][:1].isupper() and k - start < 3:
                start -= 1
            return " ".join(toks[start : k + 1])
    return ""


def referents(question: str, answer: str) -> dict[str, str]:
    """What "person", "singular", "plural", "place" and "time" pronouns most likely stand for after this turn."""
    wh = _wh(question)
    lead = _lead(answer)
    # The lead stands for the answer only when it is a name (who) or the answer is itself a phrase
    # ("A series of letters."): the lead of a quoted sentence is a clause ("Mattis announced Tuesday"),
    # which is nothing a pronoun can stand for.
    phrase_lead = lead if lead and len(answer.split()) <= _PHRASE_WORDS else ""
    name_lead = lead if lead and all(w[:1].isupper() for w in lead.split()) else phrase_lead
    names = _names(question)
    out: dict[str, str] = {}
    m = _WHO_IS.match(question)
    if m and _names(" " + m.group(1)):
        out["person"] = m.group(1)
    elif wh == "who" and name_lead:
        out["person"] = name_lead
    else:
        answer_names = _names(" " + answer) if answer else []
        people = names + answer_names
        if people:
            out["person"] = " | ".join(people)  # resolved against the follow-up's own names below
    which = _WHICH_NOUN.match(question)
    if which and which.group(1).lower() not in STOPWORDS:
        # "Which trip was Pompeo preparing for?": "it" is "the trip"; the answer's own words ("his fourth
        # trip to Pyongyang") would lead back to the sentence that answered it.
        out["singular"] = out["plural"] = f"the {which.group(1)}"
    elif wh in ("what", "which") and phrase_lead:
        out["singular"] = out["plural"] = phrase_lead
    nps = [p for p, plural in _noun_phrases(question, skip_names=True) if not plural]
    answer_nps = [p for p, plural in _noun_phrases(answer, skip_names=True) if not plural] if answer else []
    if "singular" not in out and (nps or answer_nps):
        out["singular"] = (nps or answer_nps)[0]
    if "plural" not in out:
        plural = _plural_phrase(question) or (_plural_phrase(answer) if answer else "")
        if plural:
            out["plural"] = plural
    if wh == "where" and phrase_lead:
        out["place"] = phrase_lead
    elif names and "place" not in out:
        out["place"] = names[-1]
    if wh == "when" and phrase_lead:
        out["time"] = phrase_lead
    return out


def _class(tokens: list[str], i: int) -> str | None:
    w = tokens[i].lower()
    nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
    if w in _PERSON:
        return "person"
    if w == _PLACE:  # not the existential "there is", "is there", "there would be"
        prev = tokens[i - 1].lower() if i else ""
        return None if nxt in _BE | {"has", "have", "had"} or prev in _BE else "place"
    if w == _TIME:
        return "time"
    if w in ("that", "this", "these", "those"):
        # A pronoun only where a noun phrase would end: "announce that?", "a treaty like that come";
        # not a determiner ("that declaration") or a conjunction ("say that the ...").
        if nxt and re.match(r"\w", nxt) and nxt not in _AUX - {"do", "does", "did"}:
            return None
        return "statement"  # usually a whole statement, not a noun phrase: left to the prepended question
    if w in _SINGULAR:
        return "singular"
    if w in _PLURAL:
        return "plural"
    return None


def resolve(question: str, prev_question: str, prev_answer: str) -> str | None:
    """The follow-up with its referring words replaced, or None when one of them has no referent."""
    refs = referents(prev_question, prev_answer)
    own = {n.lower() for n in _names(" " + question)}
    person = refs.get("person", "")
    if " | " in person or person:
        choices = [p for p in person.split(" | ") if p and p.lower() not in own and not (set(p.lower().split()) & own)]
        person = choices[0] if choices else ""
    refs["person"] = person
    toks = _tokens(question)
    out, replaced = [], False
    for i, t in enumerate(toks):
        kind = _class(toks, i)
        if kind is None:
            out.append(t)
            continue
        ref = refs.get(kind, "")
        if kind == "time" and not ref:
            replaced = True  # "until then": nothing to add, the time is the previous turn's
            continue
        if not ref:
            return None
        replaced = True
        possessive = t.lower() in _POSSESSIVE
        out.append(f"{ref}'s" if possessive else ref)
    if not replaced:
        return None
    text = " ".join(out)
    return re.sub(r"\s+([?.!,;:’”)])", r"\1", text)


def condense(question: str, history: list[dict[str, str]]) -> str:
    if not history or not needs_history(question):
        return question
    questions, answers = _last_user(history)
    if not questions:
        return question
    # Earlier turns first, so a pronoun carried over several turns ("Where was he spotted?") is resolved.
    resolved: list[str] = []
    for n, q in enumerate(questions):
        if n and needs_history(q):
            q = resolve(q, resolved[-1], answers[n - 1]) or q
        resolved.append(q)
    prev_q, prev_a = resolved[-1], answers[-1]
    standalone = resolve(question, prev_q, prev_a) if any(w in _REFERRING for w in words(question)) else None
    return standalone or f"{prev_q} {question}"
