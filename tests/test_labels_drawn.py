"""Labels drawn = labels stored: every labelled value is printed in full, inside its page, under no other text, on one
page of the document only, and a null label (a field the document does not print) is not printed at all.

The invariant is checked on the rendered pages of thousands of documents covering every document type, layout and
locale; augmentation and JPEG encoding, which would triple the cost, are left to a few full dataset rows.
"""

import io
import random
import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from trainer.schema.document import get_path, scalar_paths
from trainer.synth.fonts import families_for
from trainer.synth.generate import DOC_TYPES, faker_for, make_sample
from trainer.synth.locales import COUNTRIES, Country, words_for
from trainer.synth.page import SHRINK, Page, Style

NUMBER = re.compile(r"-?\d+(\.\d+)?")  # amounts, quantities and rates, printed in the locale's format
DATES = ("date", "issue_date", "due_date")  # printed in words or digits, always with the four-digit year
OVERLAP = 3  # pixels two words' ink may share: a j's tail reaches under the word before it


def documents(count: int):
    """(layout, country, document, pages) for `count` documents, cycling through every layout and locale (a long
    receipt, which only the supermarket layout prints, takes that layout; a fapiao is a Chinese invoice its form
    has room for); every other document of a country that mixes languages prints its second."""
    kinds = [(doc_type, layout) for doc_type, module in DOC_TYPES.items() for layout in module.LAYOUTS]
    kinds.append(("invoice", "fapiao"))
    locales = list(COUNTRIES)
    for i in range(count):
        (doc_type, layout), locale = kinds[i % len(kinds)], locales[i // len(kinds) % len(locales)]
        locale = "zh_CN" if layout == "fapiao" else locale
        module, country, fake = DOC_TYPES[doc_type], COUNTRIES[locale], faker_for(locale)
        if country.mixed and i % 2:
            country = replace(country, second=country.mixed[i // 2 % len(country.mixed)])
        for attempt in range(100):  # the first that the layout can print (a fapiao's few lines, no discount)
            rng = random.Random(f"labels-drawn:{i}:{attempt}")
            fake.seed_instance(rng.getrandbits(64))
            doc = module.generate(fake, rng, country)
            if layout in module.layouts(doc) or layout != "fapiao":
                break
        layout = layout if layout in module.layouts(doc) else module.layouts(doc)[0]
        family = rng.choice(families_for(country.languages, doc_type))
        sheets, _ = module.render(doc, layout, rng, fake, country, family)
        yield f"{doc_type}/{layout}", country, doc, sheets


def printed_in_full(name: str, value: str, printed: str) -> bool:
    """Whether the words printed for a field (over one line or several) carry all of its value."""
    if name in DATES:
        return value[:4] in printed
    if name == "time":
        return value[-2:] in printed  # 14:30 may print as 2:30 PM
    if name in ("doc_type", "prices_include_tax"):  # a class the page states in its own words
        return printed != ""
    if NUMBER.fullmatch(value):
        return re.sub(r"\D", "", printed) == re.sub(r"\D", "", value)
    return re.sub(r"[\s,]", "", printed) == re.sub(r"[\s,]", "", value)  # a centred address prints ", " for "\n"


def says_prices_include_tax(country: Country, doc: dict, page: Page) -> bool:
    """Whether the words printed for `prices_include_tax` say, in the country's words, which way the prices are:
    a till slip's "MwSt. 7 % / 19 % enthalten" over its tax table, an invoice's "prices exclude tax" note, or the
    sales tax a US till adds before the total."""
    words = words_for(country)
    printed = " ".join(word.text for block in page.blocks for word in block if word.name == "prices_include_tax")
    if doc["prices_include_tax"]:
        pattern = re.escape(words["tax_included"]).replace(r"\{tax\}", re.escape(words["tax"]))
        return re.fullmatch(pattern.replace(r"\{rates\}", ".+"), printed) is not None
    return printed in (words["tax_excluded"], words["tax"])


def problems(layout: str, country: Country, doc: dict, sheets: list[Page]) -> list:
    """Fields not printed, nulls printed, fields labelled on two pages, words off their page, values printed in
    part or under other text."""
    nulls = {path for path in scalar_paths(doc) if get_path(doc, path) is None}
    labelled = [path for page in sheets for path in page.fields]
    found = [("not printed", path) for path in scalar_paths(doc) if path not in labelled and path not in nulls]
    found += [("printed, but not labelled", path) for path in set(labelled) - set(scalar_paths(doc))]
    found += [("printed, but null", path) for path in nulls & set(labelled)]
    found += [("labelled on two pages", path) for path in set(labelled) if labelled.count(path) > 1]
    for page in sheets:
        found += _page_problems(country, doc, page)
    return [(layout, country.locale, country.second, *problem) for problem in found]


def _page_problems(country: Country, doc: dict, page: Page) -> list:
    found = []
    if "prices_include_tax" in page.fields and not says_prices_include_tax(country, doc, page):
        found.append(("tax mode unsaid", doc["prices_include_tax"], page.fields["prices_include_tax"]))
    words = [word for block in page.blocks for word in block]
    for word in words:
        x0, y0, x1, y1 = word.box
        if not (0 <= x0 <= x1 <= page.width and 0 <= y0 <= y1 <= page.height):
            found.append(("off the page", word.name, word.text, word.box))
    for name, (value, box) in page.fields.items():
        if not (0 <= box[0] < box[2] <= page.width and 0 <= box[1] < box[3] <= page.height):
            found.append(("box off the page", name, box))
        printed = "".join(word.text for word in words if word.name == name)
        if not printed_in_full(name, value, printed):
            found.append(("printed in part", name, value, printed))
    boxes = np.array([word.box for word in words])
    across = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    down = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    clash = (across > OVERLAP) & (down > OVERLAP)
    np.fill_diagonal(clash, False)
    for i, j in zip(*np.nonzero(clash), strict=True):
        if words[i].name is not None:
            found.append(("printed over", words[i].name, words[i].text, words[j].text))
    return found


@pytest.fixture
def layout_only(monkeypatch):
    """Skip rasterising glyphs, two thirds of a page's time: boxes come from Pillow's text layout, not from pixels."""
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", lambda self, *args, **kwargs: None)


@pytest.mark.slow
@pytest.mark.parametrize("count", [2000, pytest.param(20000, marks=pytest.mark.scale)])
def test_every_label_is_printed_in_full_inside_its_page(layout_only, count):
    found, seen, features = [], set(), set()
    for layout, country, doc, sheets in documents(count):
        found += problems(layout, country, doc, sheets)
        seen.add((layout, country.locale))
        features |= {f"{len(sheets)} pages"}
        paths = scalar_paths(doc)
        features |= {f"null {path.split('.')[-1]}" for path in paths if get_path(doc, path) is None}
        features |= {f"{layout} line discount" for path in paths if path.endswith(".discount")}
        features |= {f"{layout} gross prices" for _ in [0] if doc["prices_include_tax"]}
        features |= {f"{layout} rounding" for _ in [0] if doc["rounding"] is not None}
    assert found == []
    assert len(seen) == sum(len(module.LAYOUTS) for module in DOC_TYPES.values()) * len(COUNTRIES) + 1  # fapiao
    layouts = [f"{doc_type}/{layout}" for doc_type, module in DOC_TYPES.items() for layout in module.LAYOUTS]
    nulls = ["due_date", "email", "phone", "payment_terms", "address", "time", "payment_method", "shipping", "rounding"]
    receipts = [layout for layout in layouts if layout.startswith("receipt/")]
    expected = {f"{layout} line discount" for layout in layouts} | {"null " + key for key in nulls}
    expected |= {f"{layout} {feature}" for layout in receipts for feature in ("gross prices", "rounding")}
    assert expected <= features, "every layout draws the rows it has: line discounts, tax tables, rounding"
    assert any(feature.startswith("invoice/") and feature.endswith(" rounding") for feature in features)
    assert {"1 pages", "2 pages", "3 pages"} <= features, "long invoices run on to a second and a third page"


def test_dataset_rows_print_long_names_inside_the_image():
    """Full rows, augmented and encoded: seed 7's 92 and 306 have merchant names that ran off the receipt."""
    for index in [92, 306, *range(24)]:
        row = make_sample(7, index, tuple(DOC_TYPES), tuple(COUNTRIES))
        sizes = [Image.open(io.BytesIO(page["bytes"])).size for page in [row["image"], *row["more_pages"]]]
        for field in row["fields"]:
            (x0, y0, x1, y1), (width, height) = field["bbox"], sizes[field["page"]]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (row["id"], field)
        values = {field["name"]: field["value"] for field in row["fields"]}
        if "merchant.name" in values:
            assert " ".join(values["merchant.name"].split()) in " ".join(row["text"].split()), row["id"]


def test_text_too_wide_shrinks_then_wraps_and_is_never_cut():
    page = Page(576, 400, Style("sans", 20, (0, 0, 0)), margin=36)
    name = "Sabbatini, Bondumier e Modigliani s.r.l."
    size, lines = page.fit(name, page.width_of(name) * 0.9)
    assert lines == [name] and SHRINK <= size < 1
    size, lines = page.fit(name, 200)
    assert size == pytest.approx(SHRINK) and len(lines) > 1 and " ".join(lines) == name
    assert all(page.width_of(line, size) <= 200 for line in lines)
    for text in ("info@sabbatini-bondumier-modigliani.example", "東京都千代田区丸の内一丁目九番二号"):  # no spaces
        lines = page.wrap(text, 120)
        assert "".join(lines) == text and all(page.width_of(line) <= 120 for line in lines)
    box = page.text((288, 40), f"{name} {name}", 1.3, bold=True, anchor="ma", name="merchant.name")
    drawn = [word for word in page.blocks[-1] if word.name == "merchant.name"]
    assert box[0] >= 36 and box[2] <= 540 and len(drawn) > 1
    assert page.fields["merchant.name"] == (f"{name} {name}", box)
    assert " ".join(word.text for word in drawn) == f"{name} {name}"


def test_letter_spaced_text_is_measured_as_it_is_drawn():
    page = Page(600, 200, Style("sans", 20, (0, 0, 0), tracking=0.15), margin=30)
    plain = page.width_of("INVOICE TOTAL", bold=False)
    spaced = page.width_of("INVOICE TOTAL", bold=True)
    assert spaced > Page(600, 200, Style("sans", 20, (0, 0, 0))).width_of("INVOICE TOTAL", bold=True) + 12 * 2
    box = page.text((570, 40), "INVOICE TOTAL", bold=True, anchor="ra", name="doc_type")
    assert 570 - spaced - 2 <= box[0] and box[2] <= 571, (box, spaced)  # right-aligned as a whole, inside its room
    assert page.text((30, 100), "INVOICE TOTAL")[2] - 30 == pytest.approx(plain, abs=2)  # body text is not spaced
    assert "print/letter-spaced" in page.features
    gray = np.asarray(page.image.convert("L"))
    assert (gray[int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] < 128).any()
