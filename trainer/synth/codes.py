"""Bank details, payment QR codes and till barcodes, with content that agrees with the document's label.

segno encodes QR codes and writes the European Payments Council's SEPA credit-transfer payload (EPC069-12);
qrbill writes and checks the Swiss QR-bill payload (SIX's Swiss Payment Standards); python-barcode encodes EAN-13
and Code 128. Only the drawing of the modules on the page is ours, so that they land on the page's own pixels.
"""

import random
from dataclasses import dataclass

import numpy as np
import segno
from barcode import get_barcode_class
from faker import Faker
from PIL import Image, ImageDraw
from qrbill import QRBill
from qrbill.bill import QR_IID
from segno.helpers import make_epc_qr
from stdnum.ch import esr

from .locales import Country

IBAN_COUNTRIES = {"GB", "DE", "FR", "ES", "IT", "CH"}  # of the locales here, those whose banks use IBANs


@dataclass(frozen=True)
class Bank:
    lines: tuple[str, ...]  # what the invoice prints under its "bank details" heading
    iban: str | None = None  # electronic form, no spaces
    bic: str | None = None


def bank_details(fake: Faker, country: Country) -> Bank:
    """The vendor's account as banks of its country write it: an IBAN (and BIC) of that country in Europe, a routing
    and account number in the US, bank, branch and account in Japan."""
    region = country.locale[-2:]
    if region in IBAN_COUNTRIES:
        iban, bic = fake.iban(), fake.swift(length=fake.random_element((8, 11)))  # a bank (8) or a branch (11)
        return Bank((f"IBAN {' '.join(iban[i : i + 4] for i in range(0, len(iban), 4))}", f"BIC {bic}"), iban, bic)
    if region == "US":
        return Bank((f"ABA {fake.aba()}", f"Account {fake.numerify('#########')}"))
    if region == "JP":
        bank = fake.random_element(("みずほ銀行", "三菱UFJ銀行", "三井住友銀行", "りそな銀行"))
        return Bank((f"{bank} {fake.city()}支店", f"普通 {fake.numerify('#######')}"))
    raise ValueError(f"no bank details for {country.locale}")


def payment_qr(doc: dict, bank: Bank) -> tuple[str, segno.QRCode] | None:
    """The payment QR code an invoice carries, or None: the EPC code for euro transfers to an IBAN, the Swiss QR-bill
    for francs. The amount is the label's total and the message names the invoice."""
    vendor, message = doc["vendor"], doc["invoice_number"]
    if doc["currency"] == "EUR" and bank.iban:
        return "qr-epc", make_epc_qr(vendor["name"][:70], bank.iban, doc["total"], text=message, bic=bank.bic)
    if doc["currency"] == "CHF" and bank.iban:
        street, *_, town = vendor["address"].splitlines()
        postcode, _, city = town.partition(" ")
        reference = None
        if QR_IID["start"] <= int(bank.iban[4:9]) <= QR_IID["end"]:  # a QR-IBAN takes a QR reference: 26 digits + check
            digits = "".join(c for c in doc["invoice_number"] if c.isdigit()).rjust(26, "0")[-26:]
            reference = digits + esr.calc_check_digit(digits)
        bill = QRBill(
            account=bank.iban,
            creditor={"name": vendor["name"][:70], "street": street[:70], "pcode": postcode, "city": city[:35],
                      "country": "CH"},
            amount=doc["total"], currency="CHF", reference_number=reference, additional_information=message,
        )  # fmt: skip
        return "qr-bill", segno.make_qr(bill.qr_data(), error="m", boost_error=False, encoding="utf-8")
    return None


def qr_image(qr: segno.QRCode, module: int, swiss: bool = False) -> Image.Image:
    """The QR code at `module` pixels per module with its four-module quiet zone, and the Swiss cross in the middle
    of a QR-bill (7 mm on a 46 mm code)."""
    modules = np.pad(np.array(qr.matrix, dtype=bool), 4)
    pixels = np.where(np.kron(modules, np.ones((module, module), dtype=bool)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels).convert("RGB")
    if swiss:
        size, middle = image.width * 7 // 46, image.width // 2
        draw = ImageDraw.Draw(image)
        box = (middle - size // 2, middle - size // 2, middle + size // 2, middle + size // 2)
        draw.rectangle(box, fill=(0, 0, 0), outline=(255, 255, 255), width=max(1, size // 12))
        arm, bar = size * 3 // 10, max(1, size // 10)
        draw.rectangle((middle - bar, middle - arm, middle + bar, middle + arm), fill=(255, 255, 255))
        draw.rectangle((middle - arm, middle - bar, middle + arm, middle + bar), fill=(255, 255, 255))
    return image


def till_code(doc: dict, rng: random.Random) -> tuple[str, str]:
    """(symbology, content) of the barcode a till prints under a slip, which its returns desk scans: EAN-13 in the
    in-store range (prefix 2) holding the date (YYMMDD) and a transaction number, or Code 128 holding the date
    (YYYYMMDD), store, till and transaction."""
    day = doc["date"].replace("-", "")
    if rng.random() < 0.5:
        body = f"2{day[2:]}{rng.randrange(100000):05d}"  # 12 digits; the library adds the check digit
        return "ean13", get_barcode_class("ean13")(body).get_fullcode()
    store, till, number = rng.randrange(1, 10000), rng.randrange(1, 100), rng.randrange(1000000)
    return "code128", f"{day}{store:04d}{till:02d}{number:06d}"  # 20 digits: Code 128's compact digit set


def barcode_image(symbology: str, content: str, module: int, height: int) -> Image.Image:
    """Bars `module` pixels wide per module, `height` tall, with a ten-module quiet zone either side."""
    bars = get_barcode_class(symbology)(content).build()[0]
    row = np.array([bit == "1" for bit in "0" * 10 + bars + "0" * 10])
    pixels = np.where(np.repeat(row, module)[None, :].repeat(height, axis=0), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")
