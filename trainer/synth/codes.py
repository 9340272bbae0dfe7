"""Bank details, payment QR codes and till barcodes, with content that agrees with the document's label.

segno encodes QR codes and writes the European Payments Council's SEPA credit-transfer payload (EPC069-12);
qrbill writes and checks the Swiss QR-bill payload (SIX's Swiss Payment Standards); python-barcode encodes EAN-13
and Code 128. India's UPI links (NPCI's `upi://pay` URI) and Brazil's Pix "BR Code" (the Banco Central's EMV
merchant-presented payload, CRC16-CCITT by `binascii`) are written here, as no kept library writes them. Only the
drawing of the modules on the page is ours, so that they land on the page's own pixels.
"""

import binascii
import random
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlencode

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

IBAN_COUNTRIES = {"GB", "DE", "FR", "ES", "IT", "CH", "NL"}  # of the locales here, those whose banks use IBANs
INDIAN_BANKS = (  # name, IFSC prefix, UPI handle
    ("State Bank of India", "SBIN", "oksbi"),
    ("HDFC Bank", "HDFC", "okhdfcbank"),
    ("ICICI Bank", "ICIC", "okicici"),
    ("Axis Bank", "UTIB", "okaxis"),
    ("Kotak Mahindra Bank", "KKBK", "kotak"),
)
MALAYSIAN_BANKS = (("Maybank", "MBBEMYKL"), ("CIMB Bank", "CIBBMYKL"), ("Public Bank", "PBBEMYKL"),
                   ("RHB Bank", "RHBBMYKL"), ("Hong Leong Bank", "HLBBMYKL"))  # fmt: skip
CHINESE_BANKS = ("中国工商银行", "中国建设银行", "中国银行", "招商银行", "中国农业银行")
CHINESE_BRANCHES = ("朝阳", "浦东", "天河", "南山", "西湖", "武侯", "鼓楼", "江汉")
BRAZILIAN_BANKS = ("Banco do Brasil", "Itaú Unibanco", "Bradesco", "Caixa Econômica Federal", "Santander")


@dataclass(frozen=True)
class Bank:
    lines: tuple[str, ...]  # what the invoice prints under its "bank details" heading
    iban: str | None = None  # electronic form, no spaces
    bic: str | None = None
    upi: str | None = None  # India: the virtual payment address
    pix: str | None = None  # Brazil: the Pix key (the firm's CNPJ, digits only)


def bank_details(fake: Faker, country: Country, vendor: dict) -> Bank:
    """The vendor's account as banks of its country write it: an IBAN (and BIC) of that country in Europe, a routing
    and account number in the US, bank, branch and account in Japan and China, account and IFSC code (and a UPI
    address) in India, account and SWIFT code in Malaysia, branch, account and Pix key in Brazil."""
    region = country.locale[-2:]
    if region in IBAN_COUNTRIES:
        iban, bic = fake.iban(), fake.swift(length=fake.random_element((8, 11)))  # a bank (8) or a branch (11)
        return Bank((f"IBAN {' '.join(iban[i : i + 4] for i in range(0, len(iban), 4))}", f"BIC {bic}"), iban, bic)
    if region == "US":
        return Bank((f"ABA {fake.aba()}", f"Account {fake.numerify('#########')}"))
    if region == "JP":
        bank = fake.random_element(("みずほ銀行", "三菱UFJ銀行", "三井住友銀行", "りそな銀行"))
        return Bank((f"{bank} {fake.city()}支店", f"普通 {fake.numerify('#######')}"))
    if region == "IN":
        bank, ifsc, handle = fake.random_element(INDIAN_BANKS)
        upi = f"{re.sub(r'[^a-z0-9]', '', vendor['name'].lower())[:20]}@{handle}"
        lines = (f"{bank} · A/c No. {fake.numerify('############')}", f"IFSC {ifsc}0{fake.numerify('######')}",
                 f"UPI {upi}")  # fmt: skip
        return Bank(lines, upi=upi)
    if region == "MY":
        bank, bic = fake.random_element(MALAYSIAN_BANKS)
        return Bank((f"{bank} · No. Akaun {fake.numerify('5### #### ####')}", f"SWIFT {bic}"), bic=bic)
    if region == "CN":
        bank, branch = fake.random_element(CHINESE_BANKS), fake.random_element(CHINESE_BRANCHES)
        return Bank((f"{bank}{branch}支行", f"账号 {fake.numerify('6222 #### #### #### ###')}"))
    if region == "BR":
        key = re.sub(r"\D", "", vendor["tax_id"])
        bank = fake.random_element(BRAZILIAN_BANKS)
        lines = (bank, f"Agência {fake.numerify('####-#')} · Conta {fake.numerify('#####-#')}",
                 f"Chave Pix (CNPJ) {vendor['tax_id']}")  # fmt: skip  # a long bank name on its own line
        return Bank(lines, pix=key)
    raise ValueError(f"no bank details for {country.locale}")


def upi_link(doc: dict, bank: Bank) -> str:
    """NPCI's UPI payment URI: payee address and name, the label's total in rupees, the invoice as the note."""
    fields = {"pa": bank.upi, "pn": doc["vendor"]["name"], "am": doc["total"], "cu": "INR", "tn": doc["invoice_number"]}
    return "upi://pay?" + urlencode(fields, quote_via=quote)


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _ascii(text: str, length: int) -> str:
    """Letters without accents, as the BR Code's name and city fields take them."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9 .-]", "", plain).strip()[:length].strip()


def pix_code(doc: dict, bank: Bank) -> str:
    """The Banco Central's static Pix BR Code: the key, the label's total, the payee's name and town, the invoice
    number as the transaction id, and the CRC16-CCITT (0xFFFF start) over all of it."""
    town = re.sub(r"^[\d\s-]+", "", doc["vendor"]["address"].splitlines()[-1]).split("/")[0]
    txid = re.sub(r"[^A-Za-z0-9]", "", doc["invoice_number"])[:25] or "***"
    payload = "".join((
        _tlv("00", "01"),
        _tlv("26", _tlv("00", "br.gov.bcb.pix") + _tlv("01", bank.pix)),
        _tlv("52", "0000"),
        _tlv("53", "986"),
        _tlv("54", doc["total"]),
        _tlv("58", "BR"),
        _tlv("59", _ascii(doc["vendor"]["name"], 25) or "N/A"),
        _tlv("60", _ascii(town, 15) or "BRASIL"),
        _tlv("62", _tlv("05", txid)),
        "6304",
    ))  # fmt: skip
    return payload + f"{binascii.crc_hqx(payload.encode(), 0xFFFF):04X}"


def payment_qr(doc: dict, bank: Bank) -> tuple[str, segno.QRCode] | None:
    """The payment QR code an invoice carries, or None: the EPC code for euro transfers to an IBAN, the Swiss QR-bill
    for francs, a UPI link for rupees, a Pix BR Code for reais. The amount is the label's total and the message
    names the invoice."""
    vendor, message = doc["vendor"], doc["invoice_number"]
    if doc["currency"] == "INR" and bank.upi:
        return "qr-upi", segno.make_qr(upi_link(doc, bank), error="m", boost_error=False)
    if doc["currency"] == "BRL" and bank.pix:
        return "qr-pix", segno.make_qr(pix_code(doc, bank), error="m", boost_error=False)
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
