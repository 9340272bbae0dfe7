"""The rewards score hand-made answers as a careful reader would, and every attempt to game them (an empty or trivial
document, numbers that add up but are not the page's, a copy of the prompt, an endless line-item list, an answer cut
off by the token limit) earns less than an honest partial reading of the same page."""

import copy
import json

import pytest
from shared import INVOICE

from trainer.data.tasks import PROMPTS
from trainer.rewards import REWARDS, WEIGHTS, arithmetic, fields, page_text, table, total, well_formed
from trainer.schema.document import canonical_json, validate
from trainer.tables import grid_to_otsl

TRUTH = canonical_json(INVOICE)
PAGE_TEXT = "Acme GmbH\nHauptstr. 1\n10115 Berlin\nInvoice INV-0001\nConsulting 2.5 x 100.00 = 250.00\nTotal 354.90 EUR"
GRID = [[("description", 1), ("amount", 1)], [("Consulting", 1), ("250.00", 1)], [("Book", 1), ("59.97", 1)]]


def honest_partial() -> str:
    """What a reader that has not learnt the page well writes: the header and totals right, the parties' names and the
    second line item misread (its amount too, so two rules fail), the payment terms missed."""
    doc = copy.deepcopy(INVOICE)
    doc["vendor"]["name"], doc["customer"]["name"] = "Acne GmbH", "Beta"
    doc["line_items"][1] |= {"description": "Boot", "amount": "59.79"}
    del doc["payment_terms"]
    return canonical_json(doc)


def made_up_but_adds_up() -> str:
    doc = {"doc_type": "invoice", "invoice_number": "A-1", "issue_date": "2024-01-01", "currency": "EUR",
           "prices_include_tax": False, "line_items": [{"description": "Widget", "quantity": "1", "unit_price": "100.00",
                                                        "amount": "100.00"}],
           "subtotal": "100.00", "taxes": [{"rate": "19", "base": "100.00", "amount": "19.00"}], "total": "119.00"}  # fmt: skip
    assert validate(doc) == []  # every rule that runs passes
    return canonical_json(doc)


def endless() -> str:
    return canonical_json({**INVOICE, "line_items": INVOICE["line_items"] * 40})


GAMES = {
    "empty": "",
    "trivial": '{"doc_type": "invoice"}',
    "made up but adds up": made_up_but_adds_up(),
    "copy of the prompt": PROMPTS["extract"],
    "endless line items": endless(),
    "cut off by the token limit": endless()[:1500],
    "a loop": TRUTH[:-1] + ', "notes": "' + "1 1 " * 200,
}


def one(reward, answer: str, task: str = "extract", reference: str = TRUTH) -> float | None:
    return reward([[{"role": "assistant", "content": answer}]], task=[task], reference=[reference])[0]


def test_a_right_answer_earns_every_reward_in_full():
    assert one(fields, TRUTH) == 1.0 and one(arithmetic, TRUTH) == 1.0 and one(well_formed, TRUTH) == 1.0
    assert (
        one(page_text, PAGE_TEXT, "ocr", PAGE_TEXT) == 1.0
        and one(table, grid_to_otsl(GRID), "table", grid_to_otsl(GRID)) == 1.0
    )
    assert total([TRUTH], ["extract"], [TRUTH]) == [
        pytest.approx(sum(WEIGHTS[k] for k in ("fields", "arithmetic", "well_formed")))
    ]


def test_each_reward_scores_its_own_task_only():
    for name, reward in REWARDS.items():
        scored = {
            task
            for task in ("extract", "table", "ocr")
            if one(reward, TRUTH, task, {"extract": TRUTH, "table": grid_to_otsl(GRID), "ocr": PAGE_TEXT}[task])
            is not None
        }
        assert scored == {"page_text": {"ocr"}, "table": {"table"}}.get(name, {"extract"}), name


def test_an_honest_partial_reading_earns_part_of_each_reward():
    answer = honest_partial()
    assert 0.5 < one(fields, answer) < 1 and 0 < one(arithmetic, answer) < 1 and one(well_formed, answer) == 1.0


@pytest.mark.parametrize("game", list(GAMES))
def test_no_attempt_to_game_the_rewards_beats_an_honest_partial_reading(game):
    honest = total([honest_partial()], ["extract"], [TRUTH])[0]
    assert total([GAMES[game]], ["extract"], [TRUTH])[0] < honest, game


def test_the_label_free_rewards_need_evidence():
    """Nothing checked earns nothing: a document on which no rule can run, or that the schema refuses."""
    assert one(arithmetic, '{"doc_type": "invoice", "vendor": {"name": "Acme GmbH"}}') == 0.0
    assert (
        one(arithmetic, '{"doc_type": "invoice", "total": "3,50"}') == 0.0
        and one(well_formed, '{"doc_type": "bill"}') == 0.0
    )
    assert (
        one(well_formed, "Here it is: " + TRUTH) == 0.0 and one(fields, "Here it is: " + TRUTH) == 1.0
    )  # found, not alone
    assert one(well_formed, GAMES["a loop"]) == 0.0


def test_page_text_and_table_rewards_rank_readings_as_a_reader_would():
    typos = PAGE_TEXT.replace("Berlin", "Berlim").replace("354.90", "354.00")
    rewards = [
        one(page_text, answer, "ocr", PAGE_TEXT) for answer in (PAGE_TEXT, typos, PROMPTS["ocr"], "", PAGE_TEXT * 5)
    ]
    assert rewards[0] == 1.0 > rewards[1] > 0.9 and max(rewards[2:]) < 0.5 and rewards[3] == 0.0
    reference = grid_to_otsl(GRID)
    misread = grid_to_otsl([GRID[0], GRID[1], [("Boot", 1), ("59.97", 1)]])
    rewards = [one(table, answer, "table", reference) for answer in (reference, misread, "", PROMPTS["table"])]
    assert rewards[0] == 1.0 > rewards[1] > 0.5 > max(rewards[2:]) and json.loads(json.dumps(rewards))


def test_an_unlabelled_page_is_left_to_the_label_free_rewards():
    assert one(fields, TRUTH, reference="") is None
    assert one(arithmetic, TRUTH, reference="") == 1.0 and one(well_formed, TRUTH, reference="") == 1.0
    assert total([TRUTH], ["extract"], [""]) == [pytest.approx(WEIGHTS["arithmetic"] + WEIGHTS["well_formed"])]
