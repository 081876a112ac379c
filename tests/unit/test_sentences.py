"""Sentence spans are exact offsets into the original text, whatever the text."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from index.document import parse_document
from index.sentences import split_sentences

WORDS = ["U.S.", "Dr.", "Mr.", "Pompeo", "said", "“Go.”", "‘no’", "e.g.", "J.", "R.", "letter", "the", "Inc.",
         "it", "Why?", "Yes!", "…", "3.5", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001f600", "(see", "above).", "a"]
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet=string.ascii_letters + ".?!,;:'\"“”‘’()-", min_size=1, max_size=8),
    st.sampled_from([" ", "  ", "\n", "\n\n", " \n \n", "\t", "\r\n"]),
)
TEXTS = st.lists(PIECES, max_size=60).map(" ".join) | st.text(max_size=300)


def check_spans(text: str, spans) -> None:
    pos = 0
    covered = set()
    for sp in spans:
        assert pos <= sp.start < sp.end <= len(text)
        piece = text[sp.start : sp.end]
        assert piece == piece.strip() and piece, (piece, text)
        covered.update(range(sp.start, sp.end))
        pos = sp.end
    # Every non-whitespace character belongs to exactly one sentence: nothing is lost.
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_spans_are_exact_ordered_and_cover_all_text(text):
    check_spans(text, split_sentences(text))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_parsed_records_point_into_the_original_text(text):
    doc = parse_document("d", text)
    assert doc.text is text or doc.text == text
    body = [r for r in doc.sentences if r.kind == "body"]
    last = -1
    for r in doc.sentences:
        assert 0 <= r.start < r.end <= len(text)
    for r in body:  # body sentences never overlap (metadata records such as a dateline may)
        assert r.start >= last
        last = r.end


def test_abbreviations_quotes_and_repeats():
    text = "Dr. Smith met J. R. Tolkien in the U.S. The meeting was short. He said “Go.” Then he left. He left.\nHe left."
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == ["Dr. Smith met J. R. Tolkien in the U.S.", "The meeting was short.", "He said “Go.”",
                   "Then he left.", "He left.", "He left."]
    # Repeated sentences get their own, different offsets.
    spans = split_sentences(text)
    assert spans[-1].start != spans[-2].start


def test_text_without_final_period_and_wrapped_lines():
    text = "A hard-wrapped paragraph that goes on and on over\nthe line end. Then a last line without a period"
    got = [text[s.start : s.end] for s in split_sentences(text)]
    assert got == ["A hard-wrapped paragraph that goes on and on over\nthe line end.", "Then a last line without a period"]


def test_seed_debris_and_metadata(seed_text):
    doc = parse_document("seed", seed_text)
    kinds = {r.kind for r in doc.sentences}
    assert {"byline", "headline", "publication", "deck", "body"} <= kinds
    assert doc.metadata["author"] == "Josh Rogin"
    assert doc.metadata["agency"] == "The Washington Post"
    assert doc.metadata["dateline"] == "WASHINGTON"
    texts = [seed_text[r.start : r.end] for r in doc.sentences]
    byline = next(r for r in doc.sentences if r.kind == "byline")
    assert seed_text[byline.start : byline.end] == "JOSH ROGIN The Washington Post"
    # Debris never becomes a sentence: caption markers, the doubled caption, the pull quote, footers.
    assert not any("??" in t for t in texts)
    credit = next(r for r in doc.sentences if r.kind == "photo_credit")
    assert seed_text[credit.start : credit.end] == "SEONGJOON CHO / BLOOMBERG FILES"
    assert not any("BLOOMBERG" in seed_text[r.start : r.end] for r in doc.sentences if r.kind == "body")
    dateline = next(r for r in doc.sentences if r.kind == "dateline")
    assert seed_text[dateline.start : dateline.end] == "WASHINGTON"
    assert not any(t.startswith("I DON’T KNOW") for t in texts)
    assert not any(t.startswith("Newspapers") for t in texts)
    assert any(t.startswith("“I don’t know that the president") for t in texts)
