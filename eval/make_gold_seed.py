"""Build eval/gold_seed.jsonl: the project's own gold questions about the seed article.

Evidence is written here as exact quotes; every start/end offset is computed from the article
text (never typed by hand) and verified, so the file cannot drift from the source. Run
``python -m eval.make_gold_seed`` after editing the questions below; ``--check`` only verifies.

The questions are deliberately disjoint from /work/shared/eval/seed_dev.jsonl (other facts of
the article), so tuning on one set and measuring on the other stays honest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.metrics import normalize_answer

ROOT = Path(__file__).resolve().parent.parent
DOC = "national_post_us_north_korea_stalemate.txt"
ARTICLE = ROOT / "seeds" / DOC
OUT = Path(__file__).resolve().parent / "gold_seed.jsonl"

# (quote, occurrence) where occurrence picks among repeated quotes; a plain str means "the only one".
Quote = str | tuple[str, int]
ANDREW_KIM = {"question": "Who is Andrew Kim?", "answer": "A top CIA Asia official who has accompanied Pompeo to Pyongyang."}

QUESTIONS: list[dict] = [
    # --- who
    {"q": "Which CIA official has accompanied Pompeo to Pyongyang?", "a": ["Andrew Kim"], "kind": "who",
     "ev": ["Andrew Kim, a top CIA Asia official who has accompanied Pompeo to Pyongyang"]},
    {"q": "Who is the Defence Secretary?", "a": ["Jim Mattis", "Mattis"], "kind": "who",
     "ev": ["Defence Secretary Jim Mattis"]},
    {"q": "With whom has Trump been privately exchanging letters?", "a": ["Kim Jong Un"], "kind": "who",
     "ev": ["Privately, Trump and Kim Jong Un have been exchanging a series of letters"]},
    {"q": "Who believes that North Korea should go first?", "kind": "who",
     "a": ["Bolton and Defence Secretary Jim Mattis", "Bolton and Mattis", "John Bolton and Jim Mattis"],
     "ev": ["Bolton and Defence Secretary Jim Mattis are opposed", "They both believe that North Korea should go first"]},
    {"q": "Who was in the room with Trump when he tweeted that the trip was cancelled?", "a": ["Pompeo", "Mike Pompeo"],
     "kind": "who", "ev": ["Pompeo was in the room Friday afternoon when Trump tweeted"]},
    {"q": "Who said they did not know whether the president would ever admit that it is over?", "kind": "who",
     "a": ["one senior administration official", "a senior administration official", "one senior administration"],
     "ev": ["“I don’t know that the president would ever admit that it’s over,” one senior administration said."]},
    # --- what (including "where")
    {"q": "Where did Pompeo show the letter to Trump?", "a": ["in the White House", "the White House"], "kind": "what",
     "ev": ["showed it to Trump in the White House"]},
    {"q": "What did Trump's latest letter encourage the Kim regime to do?", "kind": "what",
     "a": ["make more progress on denuclearization", "to make more progress on denuclearization"],
     "ev": ["encouraged the Kim regime to make more progress on denuclearization"]},
    {"q": "What did Trump's latest letter warn against?", "a": ["further backsliding", "backsliding"], "kind": "what",
     "ev": ["while warning against further backsliding"]},
    {"q": "What was described as a huge reversal for the president?", "kind": "what",
     "a": ["Trump acknowledged publicly the talks were not going well",
           "that Trump acknowledged publicly the talks were not going well"],
     "ev": ["the fact that Trump acknowledged publicly the talks were not going well was a huge reversal for the president"]},
    {"q": "What should happen to any declaration from Pyongyang before the United States grants further concessions?",
     "a": ["it should be verified", "verified"], "kind": "what",
     "ev": ["any declaration from Pyongyang should be verified before the United States grants further concessions"]},
    {"q": "What could a declaration issued without thinking through all implications negatively impact?", "kind": "what",
     "a": ["U.S.-South Korean military preparedness on the peninsula", "U.S.-South Korean military preparedness"],
     "ev": ["could negatively impact U.S.-South Korean military preparedness on the peninsula"]},
    {"q": "What will Bolton argue to Trump if the North Koreans don't move the ball forward?", "kind": "what",
     "a": ["we need to start escalating against them to force them to keep their commitments",
           "start escalating against them"],
     "ev": ["if the North Koreans don’t move the ball forward, Bolton will argue to Trump",
            "we need to start escalating against them to force them to keep their commitments"]},
    # --- how
    {"q": "How many senior administration officials confirmed that Pompeo showed the letter to Trump?", "a": ["two"],
     "kind": "how", "ev": ["two senior administration officials confirmed"]},
    {"q": "How could officials apply more pressure to the Kim regime?", "kind": "how",
     "a": ["through increased sanctions or other means", "increased sanctions"],
     "ev": ["apply more pressure to the Kim regime through increased sanctions or other means"]},
    {"q": "How were some of Trump's letters to Kim Jong Un delivered?", "kind": "how",
     "a": ["couriered by Pompeo himself", "by Pompeo", "couriered by Pompeo"],
     "ev": ["some couriered by Pompeo himself"]},
    # --- why
    {"q": "Why did the Pentagon suspend several of the largest exercises?", "kind": "why",
     "a": ["as a good-faith measure coming out of the Singapore summit", "a good-faith measure"],
     "ev": ["We took the step to suspend several of the largest exercises as a good-faith measure coming out of the Singapore summit"]},
    {"q": "Why does Bolton consider concessions such as face-to-face meetings unhelpful?", "kind": "why",
     "a": ["they are seen by the North Koreans as signs of weakness", "signs of weakness"],
     "ev": ["are seen by the North Koreans as signs of weakness and are therefore unhelpful"]},
    {"q": "Under what condition could Trump side with officials who want to apply more pressure?", "kind": "why",
     "a": ["unless Pyongyang responds positively to his latest move", "if Pyongyang does not respond positively"],
     "ev": ["unless Pyongyang responds positively to his latest move, Trump could side with officials"]},
    {"q": "Why was Mattis's announcement about the exercises seen as significant?", "kind": "why",
     "a": ["another indication that the diplomatic thaw between Washington and Pyongyang may be in trouble",
           "the diplomatic thaw between Washington and Pyongyang may be in trouble"],
     "ev": ["in another indication that the diplomatic thaw between Washington and Pyongyang may be in trouble"]},
    # --- when
    {"q": "On what day did Pompeo announce he was departing for Pyongyang?", "a": ["Last Thursday", "Thursday"],
     "kind": "when", "ev": ["Last Thursday, Secretary of State Mike Pompeo announced"]},
    {"q": "When did Mattis announce that the Pentagon has no plans to suspend additional exercises?", "a": ["Tuesday"],
     "kind": "when", "ev": ["Mattis announced Tuesday"]},
    {"q": "When did Trump decide to shelve large-scale drills with South Korea?", "kind": "when",
     "a": ["after the June summit", "after the Singapore summit"],
     "ev": ["Trump’s decision to shelve large-scale drills with South Korea after the June summit"]},
    {"q": "How long before Pompeo's departure did Trump call off the trip?", "a": ["just hours before", "hours"],
     "kind": "when", "ev": ["just hours before Pompeo was supposed to leave"]},
    # --- yes/no
    {"q": "Was Bolton in the room when Trump posted his tweets?", "a": ["no", "Bolton was not in the room"],
     "kind": "yesno", "ev": ["Bolton was not in the room when Trump posted his tweets"]},
    {"q": "Did Bolton support the trip?", "a": ["no", "he was opposed to the trip from the start"], "kind": "yesno",
     "ev": ["he was opposed to the trip from the start"]},
    {"q": "Have Trump and Pompeo claimed that progress was being made?", "kind": "yesno",
     "a": ["yes", "repeatedly claimed progress was being made"],
     "ev": ["He and Pompeo have repeatedly claimed progress was being made"]},
    {"q": "Is Trump expected to totally abandon his diplomacy with North Korea?", "kind": "yesno",
     "a": ["no", "Trump isn’t expected to totally abandon the diplomacy"],
     "ev": ["Trump isn’t expected to totally abandon the diplomacy he began in his June 12 Singapore summit"]},
    {"q": "Did officials say how the letter was transmitted?", "kind": "yesno",
     "a": ["no", "Officials also declined to say how the letter was transmitted"],
     "ev": ["Officials also declined to say how the letter was transmitted"]},
    # --- meta (layout lines: headline, deck, publication, byline, dateline, photo credit)
    {"q": "What is the headline of the article?", "a": ["U.S., North Korea in a stalemate"], "kind": "meta",
     "ev": ["U.S., North Korea in a stalemate"]},
    {"q": "Which newspaper published the article?", "a": ["National Post"], "kind": "meta", "ev": ["National Post"]},
    {"q": "Which news organisation does the reporter work for?", "a": ["The Washington Post", "Washington Post"],
     "kind": "meta", "ev": ["The Washington Post"]},
    {"q": "What is the subheadline of the article?", "a": ["Cancellation of Pompeo’s visit latest indication"],
     "kind": "meta", "ev": ["Cancellation of Pompeo’s visit latest indication"]},
    {"q": "From which city was the story filed?", "a": ["Washington"], "kind": "meta", "ev": ["WASHINGTON"]},
    {"q": "Who is credited for the photo?", "kind": "meta",
     "a": ["Seongjoon Cho", "SEONGJOON CHO / BLOOMBERG FILES", "Seongjoon Cho Bloomberg"],
     "ev": [("SEONGJOON CHO / BLOOMBERG FILES", 0), ("SEONGJOON CHO / BLOOMBERG FILES", 1)]},
    # --- follow-ups: only answerable with the earlier turns
    {"q": "Where was he spotted on Friday?", "a": ["heading into the West Wing", "the West Wing", "West Wing"],
     "kind": "followup", "history": [ANDREW_KIM], "ev": ["heading into the West Wing on Friday"]},
    {"q": "Where did he tell reporters that?", "a": ["at the Pentagon", "the Pentagon"], "kind": "followup",
     "history": [{"question": "Who announced that the Pentagon has no plans to suspend more exercises?",
                  "answer": "Jim Mattis, the Defence Secretary."}],
     "ev": ["Mattis told reporters at the Pentagon"]},
    {"q": "Which other official shares his opposition to declaring an end to the Korean War?",
     "a": ["Jim Mattis", "Defence Secretary Jim Mattis", "Mattis"], "kind": "followup",
     "history": [{"question": "Who was opposed to the trip from the start?", "answer": "John Bolton, the national security adviser."}],
     "ev": ["Bolton and Defence Secretary Jim Mattis are opposed to Trump issuing a declaration of the end of the Korean War"]},
    {"q": "Whom was Pompeo going to introduce him to?", "a": ["his North Korean counterparts", "North Korean counterparts"],
     "kind": "followup", "history": [{"question": "Who is Stephen Biegun?", "answer": "Pompeo's newly announced special envoy."}],
     "ev": ["Stephen Biegun, to his North Korean counterparts"]},
    {"q": "Who called it off?", "a": ["President Donald Trump", "Donald Trump", "Trump"], "kind": "followup",
     "history": [{"question": "Which trip was Pompeo preparing for last Thursday?", "answer": "His fourth trip to Pyongyang."}],
     "ev": ["President Donald Trump tweeted that the trip was off", "Trump and Pompeo decided to call off Pompeo’s journey"]},
    {"q": "Whom has he accompanied to Pyongyang?", "a": ["Pompeo", "Mike Pompeo"], "kind": "followup",
     "history": [ANDREW_KIM, {"question": "Where was he spotted?", "answer": "Heading into the West Wing on Friday."}],
     "ev": ["Andrew Kim, a top CIA Asia official who has accompanied Pompeo to Pyongyang"]},
    # --- unanswerable: mostly near-topic facts the article does not state
    {"q": "When will Pompeo reschedule his trip to Pyongyang?", "kind": "unanswerable"},
    {"q": "How did Kim Jong Un react to the cancellation of the trip?", "kind": "unanswerable"},
    {"q": "What was Stephen Biegun's job before he became special envoy?", "kind": "unanswerable"},
    {"q": "How many American troops are stationed in South Korea?", "kind": "unanswerable"},
    {"q": "On which day of the week was the Singapore summit held?", "kind": "unanswerable"},
    {"q": "What did the Chinese government say in response to Trump's accusations?", "kind": "unanswerable"},
    {"q": "Who is the president of South Korea?", "kind": "unanswerable"},
    {"q": "How many pages long was Kim Yong Chol's letter?", "kind": "unanswerable"},
    {"q": "How long has he worked at the CIA?", "kind": "unanswerable", "history": [ANDREW_KIM]},
    {"q": "What is the boiling point of water at sea level?", "kind": "unanswerable"},
    # --- follow-ups of issue #13 (tag "followup-refs"): the second turn names its subject only by a pronoun,
    # "that", "there", "then" or "the letter"; the gold evidence is the sentence that answers it.
    *({**item, "tag": "followup-refs"} for item in [
        {"q": "To whom did Pompeo show it?", "a": ["Trump", "to Trump", "President Donald Trump"], "kind": "followup",
         "history": [{"question": "Who sent Pompeo the secret letter?",
                      "answer": "Kim Yong Chol, vice chairman of North Korea’s ruling Workers’ Party Central Committee."}],
         "ev": ["showed it to Trump in the White House"]},
        {"q": "What did he send to Pompeo?", "a": ["a secret letter", "the letter", "letter"], "kind": "followup",
         "history": [{"question": "Who is Kim Yong Chol?",
                      "answer": "Vice chairman of North Korea’s ruling Workers’ Party Central Committee."}],
         "ev": ["a top North Korean official sent a secret letter to Pompeo", "Pompeo received the letter from Kim Yong Chol"]},
        {"q": "Are its exact contents known?", "a": ["no", "The exact contents of the message are unclear"], "kind": "followup",
         "history": [{"question": "What did the secret letter convince Pompeo and Trump of?",
                      "answer": "That the visit was not likely to succeed."}],
         "ev": ["The exact contents of the message are unclear"]},
        {"q": "Why did they call off the journey after reading it?", "kind": "followup",
         "a": ["it was sufficiently belligerent", "sufficiently belligerent"],
         "history": [{"question": "Who sent a secret letter to Pompeo?", "answer": "Kim Yong Chol, a top North Korean official."}],
         "ev": ["it was sufficiently belligerent that Trump and Pompeo decided to call off Pompeo’s journey"]},
        {"q": "Which network did she talk to?", "a": ["CNN"], "kind": "followup",
         "history": [{"question": "Who is Sarah Huckabee Sanders?", "answer": "The White House Press Secretary."}],
         "ev": ["White House Press Secretary Sarah Huckabee Sanders told CNN"]},
        {"q": "How did he announce that?", "a": ["tweeted", "Trump tweeted he was cancelling Pompeo’s trip"], "kind": "followup",
         "history": [{"question": "Why did Trump cancel Pompeo's trip?",
                      "answer": "He felt “we are not making sufficient progress with respect to the denuclearization of the Korean Peninsula.”"}],
         "ev": ["Trump tweeted he was cancelling Pompeo’s trip"]},
        {"q": "Do officials say the letter was sent that way?", "kind": "followup",
         "a": ["no", "Officials also declined to say how the letter was transmitted"],
         "history": [{"question": "How has North Korea been increasingly communicating?",
                      "answer": "Through its UN mission, known as the “New York Channel.”"}],
         "ev": ["Officials also declined to say how the letter was transmitted"]},
        {"q": "Who couriered some of them?", "a": ["Pompeo", "Pompeo himself"], "kind": "followup",
         "history": [{"question": "What have Trump and Kim Jong Un been exchanging privately?", "answer": "A series of letters."}],
         "ev": ["some couriered by Pompeo himself"]},
        {"q": "Has North Korea responded to it?", "a": ["yes", "North Korea has now responded to"], "kind": "followup",
         "history": [{"question": "What did Trump's latest letter encourage?",
                      "answer": "The Kim regime to make more progress on denuclearization."}],
         "ev": ["Trump’s latest letter, which North Korea has now responded to"]},
        {"q": "Whom did he also blame in those tweets?", "a": ["the Chinese government", "Chinese government"], "kind": "followup",
         "history": [{"question": "What did Trump tweet on Friday?", "answer": "That Pompeo's trip was off."}],
         "ev": ["In his Friday tweets, Trump also blamed the Chinese government for North Korea’s lack of cooperation"]},
        {"q": "For what did he blame it?", "a": ["North Korea’s lack of cooperation", "lack of cooperation"], "kind": "followup",
         "history": [{"question": "What did Trump tweet on Friday?", "answer": "That Pompeo's trip was off."},
                     {"question": "Which government did he blame in those tweets?", "answer": "The Chinese government."}],
         "ev": ["In his Friday tweets, Trump also blamed the Chinese government for North Korea’s lack of cooperation"]},
        {"q": "What had he and Pompeo claimed until then?", "a": ["progress was being made"], "kind": "followup",
         "history": [{"question": "What was a huge reversal for the president?",
                      "answer": "That Trump acknowledged publicly the talks were not going well."}],
         "ev": ["He and Pompeo have repeatedly claimed progress was being made"]},
        {"q": "What did Trump decide about drills with South Korea after it?", "kind": "followup",
         "a": ["to shelve large-scale drills", "shelve large-scale drills"],
         "history": [{"question": "When was the Singapore summit with Kim Jong Un?", "answer": "On June 12."}],
         "ev": ["Trump’s decision to shelve large-scale drills with South Korea after the June summit"]},
        {"q": "What does he want done to the Kim regime?", "kind": "followup",
         "a": ["apply more pressure", "apply more pressure to the Kim regime through increased sanctions or other means"],
         "history": [{"question": "Who is John Bolton?", "answer": "The national security adviser."}],
         "ev": ["Trump could side with officials who want to apply more pressure to the Kim regime through increased "
                "sanctions or other means, including national security adviser John Bolton"]},
        {"q": "What does he think it could negatively impact?", "kind": "followup",
         "a": ["U.S.-South Korean military preparedness on the peninsula", "U.S.-South Korean military preparedness"],
         "history": [{"question": "Is Mattis for declaring an end to the Korean War?",
                      "answer": "No, he is opposed to Trump issuing such a declaration at this time."}],
         "ev": ["Mattis believes that issuing such a declaration without thinking through all implications could "
                "negatively impact U.S.-South Korean military preparedness on the peninsula"]},
        {"q": "What does the State Department say it is?", "kind": "followup",
         "a": ["only a political step", "a political step, far short of a peace treaty"],
         "history": [{"question": "What does North Korea want the United States to do?",
                      "answer": "To issue a declaration to end the Korean War."}],
         "ev": ["The State Department argues that the declaration is only a political step, far short of a peace treaty"]},
        {"q": "And what does the Trump administration want them to declare?", "kind": "followup",
         "a": ["its nuclear and missile programs and assets", "nuclear and missile programs and assets"],
         "history": [{"question": "What does North Korea want the United States to do?",
                      "answer": "To issue a declaration to end the Korean War."}],
         "ev": ["the Trump administration wants the Kim regime to issue a declaration of its nuclear and missile programs and assets"]},
        {"q": "On which day was he supposed to leave?", "a": ["Friday", "On Friday"], "kind": "followup",
         "history": [{"question": "What was the Pompeo trip meant to negotiate?", "answer": "A step-for-step deal with Pyongyang."}],
         "ev": ["On Friday, just hours before Pompeo was supposed to leave"]},
        {"q": "When did he announce it?", "a": ["Last Thursday", "Thursday"], "kind": "followup",
         "history": [{"question": "Which trip was Mike Pompeo about to make?", "answer": "His fourth trip to Pyongyang."}],
         "ev": ["Last Thursday, Secretary of State Mike Pompeo announced he was departing on his fourth trip to Pyongyang"]},
        {"q": "Who spotted him heading into the West Wing?", "a": ["Reporters"], "kind": "followup",
         "history": [ANDREW_KIM], "ev": ["Reporters also spotted Andrew Kim"]},
        {"q": "On which day did he announce there would be no more of them?", "a": ["Tuesday"], "kind": "followup",
         "history": [{"question": "Where did Mattis talk to reporters about the joint military exercises?",
                      "answer": "At the Pentagon."}],
         "ev": ["Mattis announced Tuesday"]},
        {"q": "Coming out of which summit were several of them suspended?", "kind": "followup",
         "a": ["the Singapore summit", "Singapore summit", "Singapore"],
         "history": [{"question": "What did Mattis announce on Tuesday?",
                      "answer": "That the Pentagon has no plans to suspend additional joint military exercises on the Korean Peninsula."}],
         "ev": ["We took the step to suspend several of the largest exercises as a good-faith measure coming out of the Singapore summit"]},
        {"q": "Which city did he file it from?", "a": ["Washington"], "kind": "followup",
         "history": [{"question": "Who wrote the article?", "answer": "Josh Rogin of The Washington Post."}],
         "ev": ["WASHINGTON"]},
        {"q": "Which trip to Pyongyang would it have been for him?", "a": ["his fourth", "fourth"], "kind": "followup",
         "history": [{"question": "Whose trip did Trump call off on Friday?", "answer": "Secretary of State Mike Pompeo's."}],
         "ev": ["he was departing on his fourth trip to Pyongyang"]},
        {"q": "What has Trump been exchanging with him privately?", "a": ["a series of letters", "letters"], "kind": "followup",
         "history": [{"question": "With whom did Trump hold the Singapore summit?", "answer": "Kim Jong Un."}],
         "ev": ["Privately, Trump and Kim Jong Un have been exchanging a series of letters"]},
        {"q": "What does he believe North Korea should do?", "a": ["go first", "North Korea should go first"], "kind": "followup",
         "history": [{"question": "Who will argue to start escalating against North Korea?", "answer": "Bolton."}],
         "ev": ["They both believe that North Korea should go first"]},
        {"q": "What should that declaration cover?", "kind": "followup",
         "a": ["its nuclear and missile programs and assets", "nuclear and missile programs and assets"],
         "history": [{"question": "What should happen to a declaration from Pyongyang?",
                      "answer": "It should be verified before the United States grants further concessions."}],
         "ev": ["issue a declaration of its nuclear and missile programs and assets"]},
        {"q": "When would a treaty like that come?", "a": ["much later"], "kind": "followup",
         "history": [{"question": "What does the State Department call the declaration to end the Korean War?",
                      "answer": "Only a political step, far short of a peace treaty."}],
         "ev": ["far short of a peace treaty, which would come much later"]},
        {"q": "What did he say Bolton would tell Trump he does not have to admit?", "a": ["you were wrong", "wrong"],
         "kind": "followup",
         "history": [{"question": "Who said the president might never admit that it is over?",
                      "answer": "One senior administration official."}],
         "ev": ["‘You don’t have to admit you were wrong"]},
        {"q": "Who else was not there when the tweets were posted?", "a": ["Bolton", "John Bolton"], "kind": "followup",
         "history": [{"question": "Where was Pompeo on Friday afternoon?",
                      "answer": "In the room when Trump tweeted he was cancelling Pompeo’s trip."}],
         "ev": ["Bolton was not in the room when Trump posted his tweets"]},
        {"q": "How old is he?", "kind": "unanswerable",
         "history": [{"question": "Who is Stephen Biegun?", "answer": "Pompeo's newly announced special envoy."}]},
        {"q": "How many pages long was it?", "kind": "unanswerable",
         "history": [{"question": "Who sent Pompeo the secret letter?", "answer": "Kim Yong Chol."}]},
    ]),
]


def locate(text: str, quote: Quote) -> tuple[int, int]:
    q, occurrence = (quote, None) if isinstance(quote, str) else quote
    starts = [i for i in range(len(text)) if text.startswith(q, i)]
    if not starts:
        raise ValueError(f"quote not in the article: {q!r}")
    if occurrence is None:
        if len(starts) > 1:
            raise ValueError(f"quote occurs {len(starts)} times, give an occurrence: {q!r}")
        occurrence = 0
    start = starts[occurrence]
    return start, start + len(q)


def build(text: str) -> list[dict]:
    rows = []
    for n, spec in enumerate(QUESTIONS, 1):
        evidence = []
        for quote in spec.get("ev", []):
            start, end = locate(text, quote)
            evidence.append({"doc": DOC, "text": text[start:end], "start": start, "end": end})
        row = {"id": f"gold-{n:02d}", "question": spec["q"], "answers": spec.get("a", []),
               "answerable": bool(spec.get("a")), "evidence": evidence, "kind": spec["kind"]}
        if "history" in spec:
            row["history"] = spec["history"]
        if "tag" in spec:
            row["tag"] = spec["tag"]
        rows.append(row)
    return rows


def verify(rows: list[dict], text: str) -> list[str]:
    problems = []
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        problems.append("duplicate ids")
    for r in rows:
        for e in r["evidence"]:
            if text[e["start"] : e["end"]] != e["text"]:
                problems.append(f"{r['id']}: evidence offsets do not match the article")
        if r["answerable"] != bool(r["evidence"]):
            problems.append(f"{r['id']}: answerable questions need evidence, unanswerable ones none")
        # Some answer (other than yes/no) must be readable in the evidence, else the evidence is wrong.
        cited = normalize_answer(" ".join(e["text"] for e in r["evidence"]))
        extractive = [a for a in r["answers"] if normalize_answer(a) not in ("yes", "no")]
        if extractive and not any(normalize_answer(a) in cited for a in extractive):
            problems.append(f"{r['id']}: no answer occurs in its evidence")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--article", type=Path, default=ARTICLE)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--check", action="store_true", help="verify the existing file instead of writing it")
    args = p.parse_args(argv)
    text = args.article.read_text(encoding="utf-8")
    if args.check:
        rows = [json.loads(line) for line in args.out.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rows = build(text)
    problems = verify(rows, text)
    for msg in problems:
        print(msg, file=sys.stderr)
    if not problems and not args.check:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} questions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
