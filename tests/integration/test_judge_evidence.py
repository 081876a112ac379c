"""The judge in the evidence path (judge.relevance = "judge"): it reads at most max_units candidate units,
ranks them, cites exact spans (a lead-in and what it introduces as one span) and abstains by one threshold."""

import json
from dataclasses import replace

import pytest
from conftest import ROOT

from qa import Assistant
from qa.evidence import citation
from qa.fitted import load_judge
from qa.modes.extractive import ExtractiveMode
from qa.units import candidate_units, unit_text

LEAD_IN = ("Backups\nThe files created by the backup tool are:\nan archive of the home folder and a list of its files.\n"
           "The tool runs every night at two o'clock.")


@pytest.fixture(scope="module")
def judged(seed_assistant):
    a = Assistant(seed_assistant.corpus, seed_assistant.embedder,
                  settings=seed_assistant.settings.with_(judge={"relevance": "judge"}))
    assert a._finder.relevance == "judge"  # the committed weights load
    return a


def test_the_judge_answers_seed_questions_with_exact_citations(judged):
    text = judged.document_text(next(iter(judged.corpus.documents)))
    answered = 0
    for question in ("Who sent the letter to Pompeo?", "Why was the trip cancelled?",
                     "What did Trump say about the denuclearization progress?"):
        answer = judged.ask(question, mode="extractive")
        answered += not answer.abstained
        for c in answer.citations:
            assert c.text == text[c.start:c.end] and c.text.strip()
    assert answered == 3
    who = judged.ask("Who sent the letter to Pompeo?", mode="extractive")
    assert any("Kim Yong Chol" in c.text for c in who.citations)


def test_the_judge_abstains_off_topic(judged):
    answer = judged.ask("Who won the 1998 football World Cup?", mode="extractive")
    assert answer.abstained and not answer.citations


def test_the_judge_reads_at_most_max_units(judged):
    ev = judged.evidence("Why was the trip cancelled?")
    assert 0 < ev.units_read <= judged.settings.judge.max_units <= 12
    assert len(ev.scored) == ev.units_read and "relevance" in ev.timings_ms()
    few = Assistant(judged.corpus, judged.embedder, settings=judged.settings.with_(judge={"max_units": 3}))
    assert few.evidence("Why was the trip cancelled?").units_read == 3


def test_a_lead_in_and_what_it_introduces_are_one_unit_cited_as_one_span():
    a = Assistant.from_texts({"manual.txt": LEAD_IN})
    view = a.corpus.view()
    hits = a.retriever().search("Which files does the backup tool create?")
    units = candidate_units(view, hits, 12)
    pair = next(u for u in units if u.last != u.first)
    lead, body = view.record_text(pair.first), view.record_text(pair.last)
    assert lead.endswith(":") and body.startswith("an archive")
    c = citation(view, pair.first, 0.9, pair.last)
    assert c.text == LEAD_IN[c.start:c.end] == unit_text(view, pair)
    assert c.text.startswith(lead) and c.text.endswith(body)  # one contiguous span, start of one to end of the other
    # In the product the chosen unit, pair or sentence, is cited as one exact span of the document.
    judged = Assistant(a.corpus, a.embedder, settings=a.settings.with_(judge={"relevance": "judge", "abstain_below": 0.0}))
    ev = judged.evidence("Which files does the backup tool create?")
    assert ev.scored and any(s.last is not None for s in ev.scored)
    answer = judged.ask("Which files does the backup tool create?", mode="extractive")
    assert answer.citations and all(c.text == LEAD_IN[c.start:c.end] for c in answer.citations)
    # Chosen, the pair is quoted as one citation from the start of the lead-in to the end of what it introduces.
    unit = next(s for s in ev.scored if s.last is not None)
    forced = replace(ev, chosen=((unit.hit.row, unit.probability),), last_rows=((unit.hit.row, unit.last),))
    (cited,) = ExtractiveMode().answer(forced).citations
    assert (cited.start, cited.end) == (c.start, c.end) and cited.text == LEAD_IN[cited.start:cited.end]


def test_the_fitted_threshold_is_the_judges(judged):
    fit = load_judge()
    record = json.loads((ROOT / "qa" / "fitted" / "judge.json").read_text(encoding="utf-8"))
    assert record["command"].startswith("python -m training.calibrate_judge") and record["figures"]["calib"]
    assert judged.evidence("Why was the trip cancelled?").abstain_below == fit.threshold
