"""What makes a generated page look like a real one, measured on the drawn pages: the marks never hide a labelled
value beyond the stated share, each feature occurs at its stated rate, the codes decode (with zxing-cpp, a reader
independent of the libraries that wrote them) to what the label says, bank details belong to the country, print
wear acts on the ink alone, and the page's geometry (flatbed, curl, low resolution, cut margins) moves every box
exactly with its ink.
"""

import random
import re
from collections import Counter
from decimal import Decimal
from functools import cache
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from scipy.ndimage import binary_dilation
from stdnum import iban

from trainer.synth import fapiao, invoice, invoice_layouts, marks, print_effects, receipt_layouts
from trainer.synth.generate import DOC_TYPES, draw_document, faker_for
from trainer.synth.locales import COUNTRIES, MIXED, tax_parts, words_for
from trainer.synth.page import Page, Style

COUNT = 2000
PAYABLE = ("EUR", "CHF", "INR", "BRL")  # currencies whose invoices may carry a payment QR code
ACCOUNTS = {  # how the banks of countries without IBANs print an account, each pattern somewhere on the page
    "en_US": (r"ABA \d{9}", r"Account \d{9}"),
    "ja_JP": (r"普通 \d{7}",),
    "en_IN": (r"A/c No\. \d{12}\b", r"IFSC [A-Z]{4}0\d{6}", r"UPI [a-z0-9]+@[a-z]+"),
    "ms_MY": (r"No\. Akaun 5\d{3} \d{4} \d{4}\b", r"SWIFT [A-Z]{4}MY[A-Z]{2}"),
    "zh_CN": (r"银行.+支行", r"账号 6222 \d{4} \d{4} \d{4} \d{3}\b"),
    "pt_BR": (r"Agência \d{4}-\d · Conta \d{5}-\d\b", r"Chave Pix \(CNPJ\) \d\d\.\d{3}\.\d{3}/0001-\d\d\b"),
}


@cache
def drawn(count: int = COUNT) -> list[tuple[dict, object, str]]:
    """(label, pages, locale) of the first `count` documents of seed 11, drawn with their print and marks."""
    return [(doc, pages, locale) for _, doc, pages, _, _, locale in
            (draw_document(11, i, tuple(DOC_TYPES), tuple(COUNTRIES)) for i in range(count))]  # fmt: skip


@pytest.mark.slow
def test_marks_never_cover_a_labelled_value_beyond_the_stated_share():
    worst, marked = 0.0, 0
    for _, pages, _ in drawn():
        marked += any(page.ink.any() for page in pages)
        for page in pages:
            for _, box in page.fields.values():
                worst = max(worst, marks._covered(page.ink, box))
    assert marked > COUNT * 0.2, "opaque marks were drawn on a good share of the pages"
    assert 0 < worst <= marks.COVERAGE, f"an opaque mark covers {worst:.0%} of a labelled value"


def test_covered_measures_the_share_of_a_box_under_ink():
    ink_mask = np.zeros((100, 100), dtype=bool)
    ink_mask[10:20, 10:15] = True
    assert marks._covered(ink_mask, (10, 10, 20, 20)) == 0.5
    assert marks._covered(ink_mask, (50.2, 50.7, 60.1, 60.9)) == 0.0


@pytest.mark.slow
def test_each_feature_occurs_at_its_stated_share():
    counts = Counter((doc["doc_type"], f) for doc, pages, _ in drawn() for f in features(pages))
    types = Counter(doc["doc_type"] for doc, _, _ in drawn())

    def share(doc_type: str, feature: str) -> float:
        return counts[doc_type, feature] / types[doc_type]

    for name, (invoices, receipts) in marks.MARKS.items():  # a mark may find no place where it hides nothing
        for doc_type, expected in (("invoice", invoices), ("receipt", receipts)):
            assert expected * 0.5 - 0.02 <= share(doc_type, f"marks/{name}") <= expected + 0.04, (doc_type, name)
    assert abs(share("receipt", "marks/logo") - receipt_layouts.LOGO) < 0.05
    assert abs(share("receipt", "print/inverted-header") - receipt_layouts.INVERTED) < 0.04
    barcodes = share("receipt", "codes/ean13") + share("receipt", "codes/code128")
    assert abs(barcodes - receipt_layouts.BARCODE) < 0.05
    thermal = share("receipt", "print/thermal") / (1 - share("receipt", "print/dot-matrix"))
    assert abs(thermal - print_effects.THERMAL) < 0.06
    assert share("invoice", "print/dot-matrix") > 0.02 and share("receipt", "print/dot-matrix") > 0.05
    payable = [doc for doc, _, _ in drawn() if doc["doc_type"] == "invoice" and doc["currency"] in PAYABLE]
    qr = sum(counts["invoice", f"codes/qr-{kind}"] for kind in ("epc", "bill", "upi", "pix")) / len(payable)
    assert (
        invoice_layouts.PAYMENT_QR * 0.8 <= qr <= invoice_layouts.PAYMENT_QR + 0.05
    )  # a crowded page may have no room for it
    mixing = [pages for _, pages, locale in drawn() if COUNTRIES[locale].mixed]
    mixed = sum(any(f.startswith("pages/mixed-") for f in features(pages)) for pages in mixing) / len(mixing)
    assert abs(mixed - MIXED) < 0.06, mixed
    long = share("invoice", "pages/multi-page") / invoice.LONG
    assert 0.6 <= long <= 1.05, "most long orders run on to a second page; some fit on one"


def features(pages: list[Page]) -> set[str]:
    """What a document's pages carry, together."""
    return {feature for page in pages for feature in page.features}


def printed_iban(page) -> str:
    """The IBAN the page prints under its bank details, in electronic form."""
    (line,) = [word.text for block in page.blocks for word in block if word.text.startswith("IBAN ")]
    return line.removeprefix("IBAN ").replace(" ", "")


@pytest.mark.slow
def test_payment_qr_codes_decode_to_the_labelled_total_account_and_invoice():
    checked = Counter()
    for doc, pages, _ in drawn(600):
        kinds, page = [f for f in features(pages) if f.startswith("codes/qr-")], pages[-1]  # under the totals
        if not kinds:
            continue
        found = zxingcpp.read_barcodes(np.asarray(page.image), formats=zxingcpp.BarcodeFormat.QRCode)
        (text,) = {r.text for r in found}  # the back of the sheet showing through may hold it mirrored: same text
        checked[kinds[0]] += 1
        if kinds == ["codes/qr-upi"]:  # NPCI's UPI link: payee address (printed under the bank details), amount, note
            link = urlparse(text)
            fields = {key: values[0] for key, values in parse_qs(link.query).items()}
            assert (link.scheme, link.netloc) == ("upi", "pay") and fields["cu"] == "INR"
            assert f"UPI {fields['pa']}" in page.reading_text().splitlines()
            assert fields["am"] == doc["total"] and fields["tn"] == doc["invoice_number"]
            assert fields["pn"] == doc["vendor"]["name"]
            continue
        if kinds == ["codes/qr-pix"]:  # the Banco Central's BR Code: its CRC, the CNPJ key, amount, transaction id
            assert pix_crc(text[:-4]) == text[-4:]
            fields = tlv(text)
            assert tlv(fields["26"]) == {"00": "br.gov.bcb.pix", "01": re.sub(r"\D", "", doc["vendor"]["tax_id"])}
            assert fields["53"] == "986" and fields["54"] == doc["total"] and fields["58"] == "BR"
            assert tlv(fields["62"])["05"] == re.sub(r"[^A-Za-z0-9]", "", doc["invoice_number"])
            continue
        lines = text.replace("\r\n", "\n").split("\n")
        account = printed_iban(page)
        if kinds == [
            "codes/qr-epc"
        ]:  # EPC069-12: service tag, version, charset, SCT, BIC, name, IBAN, amount, ..., text
            assert lines[:2] == ["BCD", "002"] and lines[3] == "SCT"
            assert lines[5] == doc["vendor"]["name"][:70] and lines[6] == account
            assert lines[7] == "EUR" + doc["total"].rstrip("0").rstrip(".") and lines[-1] == doc["invoice_number"]
        else:  # Swiss QR-bill: SPC, 0200, 1, IBAN, the creditor, amount, currency, ..., the message
            assert lines[:4] == ["SPC", "0200", "1", account] and lines[5] == doc["vendor"]["name"][:70]
            assert lines[18:20] == [doc["total"], "CHF"] and doc["invoice_number"] in lines
    assert checked["codes/qr-epc"] >= 20 and checked["codes/qr-bill"] >= 5
    assert checked["codes/qr-upi"] >= 5 and checked["codes/qr-pix"] >= 5


def tlv(payload: str) -> dict[str, str]:
    """An EMV merchant-presented payload's fields: two-digit tag, two-digit length, value."""
    fields = {}
    while payload:
        tag, length = payload[:2], int(payload[2:4])
        fields[tag], payload = payload[4 : 4 + length], payload[4 + length :]
    return fields


def pix_crc(payload: str) -> str:
    """CRC16-CCITT with a 0xFFFF start, bit by bit as the Banco Central's manual specifies it."""
    crc = 0xFFFF
    for byte in payload.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return f"{crc:04X}"


def test_pix_crc_matches_the_banco_centrals_example():
    example = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304"
    assert pix_crc(example) == "1D3D"


@pytest.mark.slow
def test_till_barcodes_decode_to_the_labelled_date_and_the_digits_printed_under_them():
    checked = Counter()
    for doc, pages, _ in drawn(600):
        if doc["doc_type"] != "receipt":
            continue
        (page,) = pages
        kinds = [f.removeprefix("codes/") for f in page.features if f in ("codes/ean13", "codes/code128")]
        if not kinds:
            continue
        results = zxingcpp.read_barcodes(
            np.asarray(page.image), formats=(zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.Code128)
        )
        (result,) = results
        day = doc["date"].replace("-", "")
        if kinds == ["ean13"]:
            assert (
                result.format == zxingcpp.BarcodeFormat.EAN13 and result.text[0] == "2" and result.text[1:7] == day[2:]
            )
        else:
            assert result.format == zxingcpp.BarcodeFormat.Code128 and result.text[:8] == day
        assert result.text in [word.text for block in page.blocks for word in block]
        checked[kinds[0]] += 1
    assert checked["ean13"] >= 10 and checked["code128"] >= 10


def test_bank_details_belong_to_the_documents_country():
    seen = set()
    for doc, pages, locale in drawn(600):
        if doc["doc_type"] != "invoice":
            continue
        page = pages[-1]  # every page's footer has them
        text = page.reading_text()
        if locale in ACCOUNTS:
            assert "IBAN" not in text
            assert all(re.search(pattern, text) for pattern in ACCOUNTS[locale]), (locale, text)
        else:
            account = printed_iban(page)
            assert iban.is_valid(account) and account[:2] == locale[-2:], (locale, account)
        seen.add(locale)
    assert seen == set(COUNTRIES)


def slip() -> Page:
    page = Page(576, 400, Style("courier", 20, (0, 0, 0)), paper=(252, 251, 247), margin=36)
    for k in range(8):
        page.text((36, 20 + 45 * k), f"Cappuccino {k}  2 x 3,50  7,00")
    return page


def test_thermal_fading_only_moves_ink_towards_the_paper():
    page = slip()
    before = np.asarray(page.image, dtype=float)
    print_effects.thermal_print(page, random.Random(0), np.random.default_rng(0))
    after, paper = np.asarray(page.image, dtype=float), np.array(page.paper, dtype=float)
    darkness_before, darkness_after = (paper - before).sum(axis=2), (paper - after).sum(axis=2)
    inked = darkness_before > 100
    assert np.all(darkness_after <= darkness_before + 3), "nothing gets darker"
    kept = darkness_after[inked] / darkness_before[inked]
    assert kept.min() >= print_effects.FAINTEST * 0.5 - 0.02 and kept.mean() < 0.95, "faded, never erased"


def test_dot_matrix_prints_dots_where_the_glyphs_were():
    page = slip()
    before = np.asarray(page.image.convert("L")) < 128
    print_effects.dot_matrix_print(page, random.Random(0), np.random.default_rng(0))
    after = np.asarray(page.image.convert("L")) < 200
    pitch = max(2, round(page.style.size / 8))
    near = binary_dilation(before, iterations=pitch + 1)
    assert after.any() and not (after & ~near).any(), "every dot lies on or beside a glyph"
    assert 0.3 < after.sum() / before.sum() < 3.0  # dots overlap a little: a ribbon prints bolder than a laser


@pytest.mark.parametrize(
    ("features", "dpi"),
    [
        (("shape/flatbed",), 200),
        (("shape/flatbed",), 600),
        (("photo", "shape/curl"), None),
        (("shape/low-res",), None),
        (("shape/cut-off",), None),
        (("photo", "rotate", "perspective", "shape/curl"), None),
    ],
)
@pytest.mark.slow
def test_shape_changes_move_every_box_exactly_with_its_ink(monkeypatch, features, dpi):
    """Black blocks stand for printed values: after the geometry the box around each block's dark pixels is the
    mapped box, to the pixel (the blocks' edges are resampled, hence the one-pixel slack)."""
    from trainer.synth import augment as scan

    monkeypatch.setattr(scan, "CLEAN", 0.0)
    monkeypatch.setattr(scan, "PROBABILITIES", {name: float(name in features) for name in scan.PROBABILITIES})
    monkeypatch.setattr(scan, "FLATBED_PAPER", [(250, 250, 250)])
    if dpi:
        monkeypatch.setattr(scan, "A4_DPI", {dpi: 1.0})
    for seed in range(6 if dpi != 600 else 2):
        page = Image.new("RGB", (576, 1400), (252, 251, 247))
        boxes = [
            (60 + 170 * (k % 3), 80 + 160 * (k // 3), 160 + 170 * (k % 3), 120 + 160 * (k // 3)) for k in range(24)
        ]
        draw = ImageDraw.Draw(page)
        for box in boxes:
            draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(0, 0, 0))
        image, move, applied, _ = scan.augment(page, random.Random(seed), np.random.default_rng(seed), True, boxes)
        assert set(applied) == set(features)
        if dpi:
            assert image.size == (round(210 / 25.4 * dpi), round(297 / 25.4 * dpi))
        dark = np.asarray(image.convert("L")) < 128
        for box in boxes:
            x0, y0, x1, y1 = move(box)
            region = dark[max(0, int(y0) - 12) : int(y1) + 12, max(0, int(x0) - 12) : int(x1) + 12]
            ys, xs = np.nonzero(region)
            top, left = max(0, int(y0) - 12), max(0, int(x0) - 12)
            found = (left + xs.min(), top + ys.min(), left + xs.max() + 1, top + ys.max() + 1)
            assert np.allclose(found, (x0, y0, x1, y1), atol=1.5), (features, seed, box, found, (x0, y0, x1, y1))


def test_a_cut_margin_takes_what_it_cut_away_out_of_the_page_text_and_never_a_labelled_run(monkeypatch):
    """The page's `text` says what the capture kept: a printed run the cut reached is not in it, every other run is,
    and the runs that print labelled values always are (no cut reaches them)."""
    from trainer.synth import augment as scan
    from trainer.synth.generate import make_sample

    monkeypatch.setattr(scan, "CLEAN", 0.0)
    monkeypatch.setattr(scan, "PROBABILITIES", {name: float(name == "shape/cut-off") for name in scan.PROBABILITIES})
    lost = 0
    for index in range(24):
        _, _, pages, _, _, _ = draw_document(5, index, tuple(DOC_TYPES), tuple(COUNTRIES))
        row = make_sample(5, index, tuple(DOC_TYPES), tuple(COUNTRIES))
        kept, runs = Counter(row["text"].split()), [word for page in pages for block in page.blocks for word in block]
        printed = Counter(word for run in runs for word in run.text.split())
        assert not kept - printed, "the text holds only what was printed"
        gone = printed - kept
        lost += sum(gone.values())
        for page in pages:
            labelled = [box for _, box in page.fields.values()]
            extent = (min(b[0] for b in labelled), min(b[1] for b in labelled),
                      max(b[2] for b in labelled), max(b[3] for b in labelled))  # fmt: skip
            for run in (word for block in page.blocks for word in block):
                if run.name is not None:
                    assert all(kept[word] for word in run.text.split()), run
                inside = (extent[0] <= run.box[0] and extent[1] <= run.box[1] and run.box[2] <= extent[2]
                          and run.box[3] <= extent[3])  # fmt: skip
                if inside:  # the cut stops short of the labelled values' extent: what lies within it stays
                    assert all(kept[word] for word in run.text.split()), run
    assert lost > 0, "some cuts reached printed text"


def test_indian_gst_is_printed_as_central_and_state_halves_that_add_up_to_the_label():
    india, checked = COUNTRIES["en_IN"], 0
    for doc, pages, locale in drawn(600):  # the bank details' draws: about 45 Indian documents
        if locale != "en_IN":
            continue
        text = pages[-1].reading_text()  # the totals' page
        for tax in doc["taxes"]:
            (cgst, _, first), (sgst, rate, second) = tax_parts(india, tax, "INR")
            assert (cgst, sgst) == ("CGST", "SGST") and Decimal(rate) * 2 == Decimal(tax["rate"])
            assert Decimal(first) + Decimal(second) == Decimal(tax["amount"])
            assert abs(Decimal(first) - Decimal(second)) <= Decimal("0.01")
        halves = re.findall(r"[CS]GST (\d+(?:\.\d+)?)%", text)
        assert sorted(halves) == sorted(str(Decimal(t["rate"]) / 2) for t in doc["taxes"] for _ in "CS"), text
        checked += 1
    assert checked > 20


@pytest.mark.slow
def test_long_invoices_run_on_under_their_header_with_continued_notes_folios_and_the_totals_last():
    checked = 0
    for doc, pages, locale in drawn():
        if len(pages) == 1:
            continue
        words, count = words_for(COUNTRIES[locale]), len(pages)
        items = [[int(path.split(".")[1]) for path in page.fields if path.startswith("line_items.")] for page in pages]
        for number, (page, lines) in enumerate(zip(pages, items, strict=True)):
            text = page.reading_text().splitlines()
            assert words["page"].format(page=number + 1, pages=count) in text  # every page's folio
            assert (words["continued"] in text) == (number < count - 1)
            if number:  # a later page is headed by the invoice's number, and its lines follow the page before's
                assert any(doc["invoice_number"] in line for line in text[:3])
                assert min(lines, default=None) in (max(items[number - 1]) + 1, None)  # none: the totals alone
                assert lines or number == count - 1
        assert "total" in pages[-1].fields and "invoice_number" in pages[0].fields
        assert sorted({i for lines in items for i in lines}) == list(range(len(doc["line_items"])))
        checked += 1
    assert checked >= 30


@pytest.mark.slow
def test_a_fapiao_prints_its_total_in_financial_numerals_and_line_taxes_that_add_up_to_the_label():
    assert fapiao.in_words("1234.56") == "壹仟贰佰叁拾肆圆伍角陆分"  # the People's Bank's rules for written amounts
    assert fapiao.in_words("100.00") == "壹佰圆整" and fapiao.in_words("10.05") == "壹拾圆零伍分"
    country, checked, several = COUNTRIES["zh_CN"], 0, 0
    for i in range(400):
        rng, fake = random.Random(f"fapiao:{i}"), faker_for("zh_CN")
        fake.seed_instance(i)
        doc = invoice.generate(fake, rng, country)
        if "fapiao" not in invoice.layouts(doc):
            continue
        (page,), grid = invoice.render(doc, "fapiao", rng, fake, country, "hei")
        text = page.reading_text()
        assert f"ⓧ {fapiao.in_words(doc['total'])}" in text and re.fullmatch(r"\d{20}", doc["invoice_number"])
        rates, lines = fapiao.line_rates(doc), doc["line_items"]
        taxes = fapiao.line_taxes(doc, rates)
        for tax in doc["taxes"]:  # each rate's lines add up to its labelled base and its labelled tax
            at_rate = [
                (item, Decimal(t)) for item, t, rate in zip(lines, taxes, rates, strict=True) if rate == tax["rate"]
            ]
            assert sum(Decimal(item["amount"]) for item, _ in at_rate) == Decimal(tax["base"])
            assert sum(t for _, t in at_rate) == Decimal(tax["amount"])
        for item, rate, line_tax in zip(lines, rates, taxes, strict=True):  # each line's own, to the fen
            assert abs(Decimal(line_tax) - Decimal(item["amount"]) * Decimal(rate) / 100) <= Decimal("0.05")
        assert [row[-1][0] for row in grid[1 : 1 + len(taxes)]] == [f"{Decimal(t):,}" for t in taxes]
        assert [row[-2][0] for row in grid[1 : 1 + len(taxes)]] == [f"{Decimal(rate):g}%" for rate in rates]
        checked += 1
        several += len(doc["taxes"]) > 1
    assert checked >= 20 and several >= 5, (checked, several)
