"""The prompt of a corpus too large for it (qa/prompt.py): the instructions alone are the cached prefix, the
user message holds the chosen sentences under one header per document (docs/decisions/0221)."""

from qa import Assistant
from qa.prompt import SYSTEM, build_context, instructions


def test_a_large_corpus_prompt_holds_only_the_evidence_under_document_headers() -> None:
    a = Assistant.from_texts({"tides.txt": "The tide rises twice a day in Brest. The harbour master is Anne Le Gall. "
                                           "Ferries leave for Ouessant at nine.",
                              "bread.txt": "The bakery opens at seven. Its rye loaf sells out by noon."})
    settings = a.settings.with_(llm={"full_corpus_max_chars": 0, "evidence_sentences": 2, "neighbours_for": 0})
    view = a.corpus.view()
    row = {view.record_text(r): r for r in range(len(view.records))}
    best = [row["Its rye loaf sells out by noon."], row["The harbour master is Anne Le Gall."],
            row["The tide rises twice a day in Brest."]]
    ctx = build_context(view, settings, best)
    assert ctx.prefix == instructions() == SYSTEM.removesuffix("\nSentences:\n") and not ctx.whole_corpus
    assert ctx.rows == sorted(best[:2], key=lambda r: (view.records[r].doc_id, view.records[r].start))
    assert ctx.evidence == ("Sentences:\nFrom bread.txt:\n[1] Its rye loaf sells out by noon.\n"
                            "From tides.txt:\n[2] The harbour master is Anne Le Gall.")
    messages = ctx.messages("Question: Who is the harbour master?")
    assert messages[0] == {"role": "system", "content": ctx.prefix}
    assert messages[1]["content"] == ctx.evidence + "\n\nQuestion: Who is the harbour master?"
    # The same instructions for every question: one cached prefix serves them all.
    assert build_context(view, settings, best[2:]).prefix == ctx.prefix


def test_structured_documents_give_the_section_in_the_header_and_neighbours_stay_in_their_section(tmp_path) -> None:
    (tmp_path / "tool.md").write_text("# Backup tool\n\nIntro text of the manual.\n\n## Install\n\n"
                                      "Copy the binary to a folder. Add the folder to the path.\n\n"
                                      "## Usage\n\nRun it every night. It takes a minute.\n", encoding="utf-8")
    a = Assistant.open(paths=[tmp_path / "tool.md"], index_dir=tmp_path / "idx")
    view = a.corpus.view()
    row = {view.record_text(r): r for r in range(len(view.records))}
    last_install, first_usage = row["Add the folder to the path."], row["Run it every night."]
    heading = view.neighbours(first_usage)[0]  # the section's heading, not the sentence before it
    assert view.neighbours(last_install)[1] is None and view.record_text(heading).endswith("Usage")
    assert view.neighbours(heading)[0] is None
    assert view.neighbours(first_usage)[1] == row["It takes a minute."]
    settings = a.settings.with_(llm={"full_corpus_max_chars": 0, "evidence_sentences": 2, "neighbours_for": 0})
    ctx = build_context(view, settings, [first_usage, last_install])
    lines = ctx.evidence.splitlines()
    headers = [ln for ln in lines if ln.startswith("From ")]
    assert len(headers) == 2 and headers[0].endswith("> Install:") and headers[1].endswith("> Usage:"), lines
