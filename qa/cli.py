"""The `citeqa` command: a thin layer over the qa API. Every error is one line on stderr and a
non-zero exit status."""

from __future__ import annotations

import argparse
import os
import sys

from index.errors import CiteqaError
from qa.modes import MODES
from qa.settings import BACKENDS, Settings

GLOBAL_OPTIONS = ("--index-dir", "--backend", "--uri", "--token", "--collection", "--ray")  # each takes a value


# Global option -> the setting it gives (group, field).
OPTION_SETTINGS = {"index_dir": ("index", "dir"), "backend": ("index", "backend"), "uri": ("milvus", "uri"),
                   "token": ("milvus", "token"), "collection": ("milvus", "collection"), "ray": ("index", "ray_address")}


def _arguments(args) -> dict[str, dict[str, object]]:
    """The settings the command line gives, as groups of fields."""
    out: dict[str, dict[str, object]] = {}
    for option, (group, field) in OPTION_SETTINGS.items():
        value = getattr(args, option, None)
        if value is not None:
            out.setdefault(group, {})[field] = value
    return out


def _settings(args) -> Settings:
    return Settings.from_env(**_arguments(args))


def _open(args):
    from qa import Assistant

    return Assistant.open(settings=_settings(args))


def cmd_ask(args) -> int:
    from qa import Answer

    a = _open(args)
    if args.json:  # the final answer only (for combined: after the LLM), in the shape the MCP `ask` tool returns
        print(a.ask(args.question, mode=args.mode).to_json(indent=2))
        return 0
    final, streamed, quoted = None, [], None
    for item in a.stream(args.question, mode=args.mode):
        if isinstance(item, str):
            print(item, end="", flush=True)
            streamed.append(item)
        elif quoted is None and args.mode == "combined":
            quoted = item  # the instant quoted answer, before the LLM writes
            print(f"Quoted: {item.text}", flush=True)
            if not item.abstained:
                print("Written: ", end="", flush=True)
            final = item
        else:
            final = item
    assert isinstance(final, Answer)
    if streamed:
        print()
    written = "".join(streamed).strip()
    if streamed and final.text.strip() != written:
        # The LLM's streamed draft was changed by the checks (verdict dropped, abstained, quoted instead).
        print(f"Checked answer: {final.text}")
    elif not streamed and quoted is None:
        print(final.text)
    if final.note:
        print(f"({final.note})")
    if final.unsupported:
        print("(not supported by the documents: " + " | ".join(final.unsupported) + ")")
    for n, c in enumerate(final.citations, 1):
        print(f"[{n}] {c.doc_id}:{c.start}-{c.end}{f' ({c.location.describe()})' if c.location else ''} \"{c.text}\"")
    return 0


def cmd_index(args) -> int:
    from qa.rebuild import rebuild_index

    if args.index_cmd == "rebuild":
        n_docs, n_sent, missing = rebuild_index(_settings(args))
        print(f"rebuilt the index: {n_docs} documents, {n_sent} sentences")
        for m in missing:
            print(f"could not recover {m}: neither its source file nor an intact stored copy exists", file=sys.stderr)
        return 0
    a = _open(args)
    if args.index_cmd == "add":
        report = a.add_paths(args.paths)
        for d in report.added:
            print(f"added {d}")
        for d in report.updated:
            print(f"updated {d}")
        for d in report.unchanged:
            print(f"unchanged {d}")
        for e in report.errors:
            print(f"skipped: {e}", file=sys.stderr)
        print(f"{report.sentences_embedded} sentences embedded")
    elif args.index_cmd == "list":
        for d in a.documents():
            print(f"{d.doc_id}\t{d.n_sentences} units\t{_skipped(d.skipped)}\t{d.n_chars} chars\t{d.source}")
    elif args.index_cmd == "remove":
        a.remove(args.doc)
        print(f"removed {args.doc}")
    return 0


def _skipped(skipped: dict[str, int] | None) -> str:
    """"12 skipped (toc 7, dot_leaders 5)": the rows left out of the index, "skipped ?" when not counted."""
    if skipped is None:
        return "skipped ?"
    total = sum(skipped.values())
    return f"{total} skipped" + (f" ({', '.join(f'{k} {n}' for k, n in sorted(skipped.items()))})" if total else "")


def cmd_serve(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry
    from ui.app import serve

    serve(host=args.host, port=args.port, auth=args.auth, settings=_settings(args), mcp=args.mcp)
    return 0


def cmd_settings(args) -> int:
    """Every effective setting, its value and where it came from (secrets masked)."""
    from qa.settings import describe

    rows = describe(_settings(args), os.environ, _arguments(args))
    option_of = {".".join(path): "--" + option.replace("_", "-") for option, path in OPTION_SETTINGS.items()}
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        source = f"argument {option_of[name]}" if source == "argument" and name in option_of else source
        print(f"{name:<{width}}  {value}  [{source}]")
    return 0


def cmd_eval(args) -> int:
    from eval.__main__ import main as eval_main

    return eval_main(args.eval_args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="citeqa", description="Answers about your documents with exact cited spans.")
    p.add_argument("--index-dir", default=None, help="index directory (default: $CITEQA_INDEX_DIR or ~/.cache/citeqa/index); "
                                                     "`citeqa settings` lists every setting and its variable")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="where the index lives: faiss (files in --index-dir, the default) or milvus (--uri)")
    p.add_argument("--uri", default=None, help="Milvus: a local FILE.db (Milvus Lite) or http://host:19530 "
                                               "(default: $CITEQA_MILVUS_URI or ~/.cache/citeqa/milvus.db)")
    p.add_argument("--token", default=None, help="Milvus: user:password or API key (default: $CITEQA_MILVUS_TOKEN)")
    p.add_argument("--collection", default=None, help="Milvus: collection name prefix (default: citeqa)")
    p.add_argument("--ray", default=None, metavar="auto|ADDRESS",
                   help="embed the sentences of `index add` on a Ray cluster: auto (RAY_ADDRESS, a running local "
                        "cluster, else a new local one) or ray://HOST:10001 / HOST:6379; needs "
                        "pip install 'citeqa[ray]' (default: $CITEQA_RAY_ADDRESS, else no Ray)")
    # The same options are accepted after the subcommand too: `citeqa index list --index-dir D`.
    common = argparse.ArgumentParser(add_help=False)
    for option in GLOBAL_OPTIONS:
        common.add_argument(option, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                            **({"choices": BACKENDS} if option == "--backend" else {}))
    sub = p.add_subparsers(dest="cmd", required=True)
    ask = sub.add_parser("ask", help="ask a question", parents=[common])
    ask.add_argument("question")
    ask.add_argument("--mode", choices=MODES, default=None,
                     help="extractive (quotes), generative (the local LLM writes), combined (quotes at once, then the LLM)")
    ask.add_argument("--json", action="store_true",
                     help="print the final answer as JSON: text, abstained, mode, note, unsupported, citations "
                          "(doc_id, start, end, text, score, page, boxes, ...)")
    ix = sub.add_parser("index", help="manage the documents of the index")
    ixs = ix.add_subparsers(dest="index_cmd", required=True)
    add = ixs.add_parser("add", help="index files or folders (.txt .md .html .pdf .docx; .png .jpg .tif scans by OCR)", parents=[common])
    add.add_argument("paths", nargs="+")
    ixs.add_parser("list", help="list indexed documents", parents=[common])
    rm = ixs.add_parser("remove", help="remove a document", parents=[common])
    rm.add_argument("doc")
    ixs.add_parser("rebuild", help="rebuild a damaged or outdated index from its documents", parents=[common])
    serve = sub.add_parser("serve", help="start the browser chat", parents=[common])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--auth", default=None, help="user:password required to use the chat (and MCP: HTTP Basic)")
    serve.add_argument("--mcp", action=argparse.BooleanOptionalAction, default=True,
                       help="also serve the tools ask, search and list_documents over MCP at "
                            "/gradio_api/mcp/ (streamable HTTP) and /gradio_api/mcp/sse (default: on)")
    sub.add_parser("settings", help="print every effective setting and where it came from (default, a "
                                    "CITEQA_* variable or an argument)", parents=[common])
    sub.add_parser("eval", help="run a benchmark suite (citeqa eval --help)", add_help=False)
    return p


def _command_at(argv: list[str]) -> int | None:
    """Where the sub-command is in argv: the first word that is not a global option or its value."""
    i = 0
    while i < len(argv):
        if argv[i] in GLOBAL_OPTIONS:
            i += 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    at = _command_at(argv)
    if at is not None and argv[at] == "eval":  # everything after it belongs to the eval suites' own parser
        args = parser.parse_args(argv[: at + 1])
        args.eval_args = argv[at + 1 :]
    else:
        args = parser.parse_args(argv)
    try:
        if args.cmd == "ask":
            return cmd_ask(args)
        if args.cmd == "index":
            return cmd_index(args)
        if args.cmd == "serve":
            return cmd_serve(args)
        if args.cmd == "eval":
            return cmd_eval(args)
        if args.cmd == "settings":
            return cmd_settings(args)
    except (CiteqaError, ValueError) as exc:  # ValueError: a bad setting (SettingsError, e.g. CITEQA_LLM_THREADS=two)
        print(f"citeqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `citeqa index list | head`: the reader left, there is no one to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    except OSError as exc:  # the machine, not citeqa: permissions, a vanished file, ...
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"citeqa: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
