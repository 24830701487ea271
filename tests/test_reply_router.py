"""The reply router as tables: labelled real-world replies, and what each intent leads to."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from workflows.replies import INTENTS, Intent, ReplySettings, RuleClassifier, route

LABELLED = json.loads((Path(__file__).with_name("fixtures") / "replies" / "labelled.json").read_text())
MIN_ACCURACY = 0.90


def test_the_labelled_set_is_big_and_covers_every_intent():
    assert len(LABELLED) >= 80
    assert {m["intent"] for m in LABELLED} == set(INTENTS)
    assert all(m["intent"] in INTENTS for m in LABELLED)


def test_rule_classifier_accuracy_on_labelled_replies(capsys):
    """Reports accuracy per intent (shown with -s); fails under the floor."""
    classifier, right, per = RuleClassifier(), 0, Counter()
    misses = []
    for m in LABELLED:
        got = classifier.classify(m["text"]).name
        per[(m["intent"], got == m["intent"])] += 1
        if got == m["intent"]:
            right += 1
        else:
            misses.append(f"  {m['intent']:>12} read as {got:<12} {m['text']!r}")
    accuracy = right / len(LABELLED)
    with capsys.disabled():
        print(f"\nreply router: {right}/{len(LABELLED)} labelled replies right ({accuracy:.1%})")
        for intent in INTENTS:
            ok, bad = per[(intent, True)], per[(intent, False)]
            print(f"  {intent:<13} {ok}/{ok + bad}")
        print("\n".join(misses))
    assert accuracy >= MIN_ACCURACY


@pytest.mark.parametrize("text, when", [
    ("Please call me at 3pm", "at 3pm"),
    ("give me a call after 5", "after 5"),
    ("call me tomorrow morning", "tomorrow morning"),
    ("Can you call me back?", None),
    ("pls call me on my lunch break around 12:30", "around 12:30"),
])
def test_call_back_keeps_the_time_the_caller_gave(text, when):
    intent = RuleClassifier().classify(text)
    assert intent.name == "call_back" and intent.when == when


def test_urgent_words_are_the_sub_accounts_own():
    classifier = RuleClassifier()
    assert classifier.classify("the fridge is beeping nonstop").name == "other"
    assert classifier.classify("the fridge is beeping nonstop", urgent_words=("beeping",)).name == "urgent"


CALLER = "+15125550123"
SETTINGS = ReplySettings(answers={"hours": "Open 7-7 every day."})


@pytest.mark.parametrize("intent, link, answer_starts, task, alert, close", [
    (Intent("book"), "https://r.example/b/x", "Great! Pick a time that suits you here: https://r.example/b/x", None,
     False, False),
    (Intent("book"), None, "Great! What day and time suit you?", None, False, False),
    (Intent("question", topic="hours"), None, "Open 7-7 every day.", None, False, False),
    (Intent("question", topic="price"), None, "Good question! Someone from Acme", f"Answer {CALLER}'s question (price)",
     False, False),
    (Intent("call_back", when="at 3pm"), None, "Thanks! Someone from Acme will call you back at 3pm.",
     f"Call {CALLER} back (at 3pm)", False, False),
    (Intent("urgent", matched="flooding"), None, "We're on it", f"URGENT: call {CALLER} now (flooding)", True, False),
    (Intent("wrong_number"), None, "Sorry about that! We won't text you again.", None, False, True),
    (Intent("other"), None, None, f"Read {CALLER}'s reply and answer it", False, False),
])
def test_each_intent_leads_to_its_action(intent, link, answer_starts, task, alert, close):
    action = route(intent, SETTINGS, business_name="Acme", booking_link=link, caller=CALLER)
    assert (action.answer or "").startswith(answer_starts or "") and bool(action.answer) == bool(answer_starts)
    assert (action.task, action.alert_staff, action.close) == (task, alert, close)
    assert action.stop_sequence
