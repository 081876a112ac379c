"""Suite ``baselines``: citeqa beside simpler or off-the-shelf systems on the seed gold questions.

Systems (``--systems``; ``hybrid``, citeqa's own extractive mode, always runs as the reference):
- ``bm25`` / ``dense``: our extractive answer selection over one side of the retrieval only
  (an Assistant over the same corpus with ``Settings.retrieval.mode`` = "bm25" / "dense");
- ``relevance``: our extractive mode judging relevance the other way (``Settings.judge.relevance``: the
  trained cross-encoder combined with the hand features, or the hand features alone), reported as
  ``relevance_model`` or ``relevance_features``;
- ``cqe``: LlamaIndex ``CitationQueryEngine`` with its defaults, our embedder and our local LLM
  (``eval.baselines.citation_engine``);
- ``generative``: citeqa's own LLM mode, the like-for-like comparison for ``cqe``.
The LLM systems take tens of seconds per question on this CPU, so they answer only a sample of
``--llm-limit`` (default 5) of the questions; every system's figures are also given on that same
subset (``on_llm_subset``) so the rows compare.

``--distractors SQUAD_JSON`` adds that many SQuAD paragraphs to the corpus of every system (written
as files beside a copy of the documents), so retrieval has to find the article among unrelated text.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from eval import metrics
from eval.metrics import Span
from eval.suites.base import SuiteResult, headline, history_turns, make_row, progress, sample, timed_answer, warm_up
from eval.suites.seed import DEFAULT_DOCS, DEFAULT_GOLD, load_gold

DESCRIPTION = "baselines beside citeqa on the seed gold set: BM25-only, dense-only, LlamaIndex CitationQueryEngine"
SYSTEMS = ("bm25", "dense", "relevance", "cqe", "generative")
LLM_SYSTEMS = ("cqe", "generative")
FIGURES = ("n", "success", "citation_precision_micro", "citation_recall_micro", "citation_char_precision",
           "cited_answer_rate", "abstention_rate_unanswerable", "false_abstention_rate", "invalid_spans",
           "latency_ms.p50", "latency_ms.p95", "first_token_ms.p50", "cited_chars_mean")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help=f"baselines to run beside citeqa's hybrid extractive mode (subset of {','.join(SYSTEMS)})")
    p.add_argument("--llm-limit", type=int, default=5,
                   help="questions for the LLM systems (cqe, generative): tens of seconds each on this CPU")
    p.add_argument("--gold", type=Path, default=DEFAULT_GOLD, help="gold JSONL (format of seed_dev.jsonl)")
    p.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="file or folder the gold evidence refers to")
    p.add_argument("--distractors", type=Path, default=None, metavar="SQUAD_JSON",
                   help="add paragraphs of this SQuAD file to every system's corpus")
    p.add_argument("--distractor-paragraphs", type=int, default=200, help="how many distractor paragraphs")


def _cited_chars(rows: list[dict[str, Any]]) -> float | None:
    lens = [c["end"] - c["start"] for r in rows for c in r["citations"]]
    return sum(lens) / len(lens) if lens else None


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    m = metrics.aggregate(rows)
    m["cited_chars_mean"] = _cited_chars(rows)
    ranks = [r["evidence_rank"] for r in rows if "evidence_rank" in r]
    if ranks:  # answerable questions: rank of the first evidence sentence among the retrieved ones
        m["retrieval"] = {"n": len(ranks), "recall_at_k": metrics.recall_at_k(ranks, (1, 3, 5, 10, 20)),
                          "mrr": metrics.mean_reciprocal_rank(ranks)}
    m["by_kind"] = metrics.by_kind(rows)
    return m


def _corpus_dir(args: argparse.Namespace, tmp: Path) -> Path:
    """The documents every system indexes: --docs, plus distractor paragraphs as files when asked."""
    if args.distractors is None:
        return args.docs
    from eval.suites.squad import load_squad

    root = tmp / "docs"
    root.mkdir()
    if args.docs.is_dir():
        shutil.copytree(args.docs, root, dirs_exist_ok=True)
    else:
        shutil.copy2(args.docs, root / args.docs.name)
    paragraphs, _ = load_squad(args.distractors)
    (root / "distractors").mkdir()
    for i, text in enumerate(list(paragraphs.values())[: args.distractor_paragraphs]):
        (root / "distractors" / f"squad-{i:04d}.txt").write_text(text, encoding="utf-8")
    return root


def run(args: argparse.Namespace) -> SuiteResult:
    from qa import Assistant

    systems = [s.strip() for s in str(args.systems).split(",") if s.strip() and s.strip() != "hybrid"]
    if any(s not in SYSTEMS for s in systems):
        raise ValueError(f"--systems must be a subset of {','.join(SYSTEMS)}")
    if args.llm_limit < 1:
        raise ValueError("--llm-limit must be at least 1")
    gold = load_gold(args.gold)
    chosen = sample(gold, args.limit, args.seed)
    llm_chosen = sample(chosen, args.llm_limit, args.seed)
    llm_ids = {g["id"] for g in llm_chosen}
    rows: list[dict[str, Any]] = []
    extra_info: dict[str, Any] = {}

    with tempfile.TemporaryDirectory(prefix="citeqa-baselines-") as tmp:
        docs = _corpus_dir(args, Path(tmp))
        a = Assistant.open(paths=[docs], index_dir=Path(tmp) / "index")
        wanted = {e["doc"] for g in chosen for e in g["evidence"]}
        missing = sorted(wanted - set(a.corpus.documents))
        if missing:
            raise ValueError(f"gold evidence refers to document(s) not in {docs}: {', '.join(missing)}")
        extra_info["corpus"] = {"documents": len(a.corpus.documents), "sentences": len(a.corpus)}

        def answer_all(system: str, questions: list[dict[str, Any]], ask) -> None:
            for g in progress(questions, total=len(questions), desc=system):
                turns = history_turns(g.get("history"))
                answer, total, first, extra = ask(g, turns)
                evidence = [Span(e["doc"], e["start"], e["end"]) for e in g["evidence"]]
                rows.append(make_row(a, qid=g["id"], kind=g["kind"], question=g["question"], answers=g["answers"],
                                     answerable=bool(g["answerable"]), evidence=evidence, answer=answer,
                                     latency_ms=total, first_token_ms=first, system=system,
                                     history=g.get("history", []), **extra))

        def evidence_rank(system, g, turns) -> int | None:
            """0-based rank of the first retrieved sentence overlapping gold evidence (this system's retriever)."""
            from qa.followup import condense

            for i, h in enumerate(system.retriever().search(condense(g["question"], turns))):
                rec = a.corpus.records[h.row]
                if any(e["doc"] == rec.doc_id and rec.start < e["end"] and e["start"] < rec.end for e in g["evidence"]):
                    return i
            return None

        def ours(mode: str, system=a):
            def ask(g, turns):
                answer, total, first = timed_answer(system, g["question"], turns, mode)
                extra = {}
                if mode == "extractive" and g["evidence"]:  # untimed: where this retriever ranks the evidence
                    extra["evidence_rank"] = evidence_rank(system, g, turns)
                return answer, total, first, extra
            return ask

        warm_up(a, "extractive")
        answer_all("hybrid", chosen, ours("extractive"))
        for side in ("bm25", "dense"):
            if side in systems:  # the same corpus, retrieval restricted to one side by its settings
                one_sided = Assistant(a.corpus, a.embedder, settings=a.settings.with_(retrieval={"mode": side}))
                warm_up(one_sided, "extractive")
                answer_all(side, chosen, ours("extractive", one_sided))
        if "relevance" in systems:  # the same pipeline judging relevance the other way (model vs hand features)
            other = "features" if a.settings.judge.relevance == "model" else "model"
            flipped = Assistant(a.corpus, a.embedder, settings=a.settings.with_(judge={"relevance": other}))
            warm_up(flipped, "extractive")
            answer_all(f"relevance_{other}", chosen, ours("extractive", flipped))
            extra_info["relevance"] = {"hybrid": a.settings.judge.relevance, f"relevance_{other}": other}
        if "generative" in systems:
            warm_up(a, "generative")
            answer_all("generative", llm_chosen, ours("generative"))
        if "cqe" in systems:
            from eval.baselines.citation_engine import CitationEngineBaseline
            from qa.followup import condense

            t = time.perf_counter()
            engine = CitationEngineBaseline(docs, a.embedder, {d: e.text for d, e in a.corpus.documents.items()},
                                            a.settings)
            extra_info["cqe"] = {"build_s": round(time.perf_counter() - t, 2), "chunks": engine.n_chunks}
            engine.ask("What is this about?")  # untimed warm-up, as for our modes (loads the LLM)

            def ask_cqe(g, turns):
                q = condense(g["question"], turns)  # it has no chat history: give it our standalone question
                t0 = time.perf_counter()
                got = engine.ask(q)
                total = (time.perf_counter() - t0) * 1e3
                return got.answer, total, None, {"markers": got.markers, "unmapped_markers": got.unmapped_markers,
                                                 "sources": got.sources, "engine_question": q}
            answer_all("cqe", llm_chosen, ask_cqe)
            extra_info["cqe"]["unmapped_markers"] = sum(r["unmapped_markers"] for r in rows if r["system"] == "cqe")
            extra_info["cqe"]["answers_without_markers"] = sum(1 for r in rows if r["system"] == "cqe" and not r["markers"])

    names = ["hybrid"] + [s for s in ("bm25", "dense", "generative", "cqe") if s in systems]
    names += sorted({r["system"] for r in rows if r["system"].startswith("relevance_")})
    m: dict[str, Any] = {"n": len(chosen), "n_llm_subset": len(llm_chosen), **extra_info, "systems": {},
                         "on_llm_subset": {}}
    for name in names:
        mine = [r for r in rows if r["system"] == name]
        m["systems"][name] = _figures(mine)
        m["on_llm_subset"][name] = _figures([r for r in mine if r["id"] in llm_ids])
    keys = ["n=n"] + (["n_llm_subset=n_llm_subset"] if any(s in systems for s in LLM_SYSTEMS) else [])
    for name in names:
        scope = "on_llm_subset" if name in LLM_SYSTEMS else "systems"
        keys += [f"{name}_{f.replace('.', '_')}={scope}.{name}.{f}" for f in FIGURES]
        if name not in LLM_SYSTEMS:
            keys += [f"{name}_recall@1=systems.{name}.retrieval.recall_at_k.1",
                     f"{name}_recall@5=systems.{name}.retrieval.recall_at_k.5", f"{name}_mrr=systems.{name}.retrieval.mrr"]
    if any(s in systems for s in LLM_SYSTEMS):  # ours on the same questions as the LLM systems
        keys += [f"hybrid_llm_subset_{f.replace('.', '_')}=on_llm_subset.hybrid.{f}" for f in FIGURES]
    config = {"systems": names, "gold": str(args.gold), "docs": str(args.docs), "limit": args.limit, "seed": args.seed,
              "llm_limit": args.llm_limit, "mode": "extractive+baselines",
              "distractors": str(args.distractors) if args.distractors else None,
              "distractor_paragraphs": args.distractor_paragraphs if args.distractors else None}
    notes = ["Every system is scored by eval.metrics on the same gold questions; the LLM systems (cqe, generative) "
             f"answer a deterministic sample of {len(llm_chosen)} of them (--llm-limit); figures prefixed "
             "hybrid_llm_subset_ are citeqa's extractive mode on that same sample.",
             "cited_chars_mean: average length of a cited span; citeqa cites sentences, CitationQueryEngine "
             "512-token chunks, which overlap gold evidence more easily (span-overlap precision favours long spans); "
             "citation_char_precision: share of all cited characters that lie in gold evidence; cited_answer_rate: "
             "share of the answers given that cite anything."]
    if "cqe" in systems:
        notes.append("CitationQueryEngine: defaults (SentenceSplitter 1024/200 chunks, top-2, 512-token citation "
                     "chunks, compact synthesis); our MiniLM embedder and local GGUF LLM via Settings; its citation "
                     "chunks carry no offsets in this llama-index version, so each cited chunk is located in the "
                     "document text. It has no chat memory: follow-ups get citeqa's standalone question. Abstention = "
                     "an answer saying the sources do not help; an answer citing nothing is an uncited answer.")
    if args.distractors is None and len(a.corpus) <= 3 * 20:
        notes.append(f"The corpus has only {len(a.corpus)} sentences and each retriever side returns up to 20: "
                     "one-sided retrieval sees most of the article, so bm25/dense differ from hybrid little here; "
                     "use --distractors to make retrieval matter.")
    return SuiteResult(config, m, headline(m, keys), rows, notes)
