"""Marker parsing and grounding rules (no model needed)."""

from qa.citations import parse_markers


def test_formats_small_models_write():
    got = parse_markers("Pompeo got a letter [1]. Trump tweeted [Source 2]. Both [1, 3][4]. Range [2-3].", 5)
    assert [(s.text, s.markers) for s in got] == [
        ("Pompeo got a letter.", [1]), ("Trump tweeted.", [2]), ("Both.", [1, 3, 4]), ("Range.", [2, 3])]


def test_marker_after_the_period_belongs_to_the_sentence_before():
    got = parse_markers("It was cancelled because of a letter. [3] Then he left.", 5)
    assert [(s.text, s.markers) for s in got] == [("It was cancelled because of a letter.", [3]), ("Then he left.", [])]


def test_markers_pointing_nowhere_are_removed():
    got = parse_markers("Answer [9] here [0] and [Sentence 2].", 5)
    assert [(s.text, s.markers) for s in got] == [("Answer here and.", [2])]
