"""Public datasets' annotations as canonical documents, for `trainer.data.build --format sroie|cord|docile` and
`trainer.evaluate --format`.

Each importer maps what its format labels and leaves every other key out (not labelled): no currency the format
does not label, no 0.00 for an amount it does not give, no date it cannot read. What it cannot
place comes back in a `dropped` list beside the document, one "field: why" each.

- SROIE (ICDAR 2019, task 3): per image `X51005200938.jpg` a key file `X51005200938.txt` holding JSON
  {"company", "date", "address", "total"}, any of them missing.
  SROIE copies on the Hub hold the same keys under `gt_parse` in a `ground_truth` JSON string, as CORD does.
- CORD (CORD-v2 as on the Hub, naver-clova-ix/cord-v2): per image its `ground_truth` JSON, {"gt_parse": {"menu",
  "sub_total", "total"}, "meta": ...}, either as the object or as the string under a "ground_truth" key.
- DocILE (rossumai/docile): per PDF `annotations/<id>.json`, {"field_extractions", "line_item_extractions",
  "metadata", ...}, each extraction a `fieldtype`, its `text`, `page` and `bbox`; line items grouped by
  `line_item_id`. Invoices, purchase orders and the like from many countries, so a date that reads two ways is left
  out rather than guessed.
"""

import calendar
import contextlib
import datetime as dt
import json
import re
import reprlib

from trainer.errors import InputError
from trainer.schema.common import DECIMAL_PATTERN, currencies

# Each format's annotation files, by suffix: SROIE's key files are published as .txt and, in its most used public
# copy, as .json (the same JSON content either way).
ANNOTATION_SUFFIXES = {"canonical": (".json",), "sroie": (".txt", ".json"), "cord": (".json",), "docile": (".json",)}
SROIE_FIELDS = ("company", "date", "address", "total")
SROIE_TOTAL = re.compile(r"(?:RM)?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?", re.IGNORECASE)  # "9.00", "RM9.00", "1,234.50"
# CORD's receipts are Indonesian: a mark between groups of three digits separates thousands ("30,000", "30.000");
# one or two digits after the last mark are decimals ("30.000,50").
CORD_NUMBER = re.compile(
    r"(?P<sign>-)?(?P<whole>\d{1,3}(?:(?P<mark>[.,])\d{3}(?:(?P=mark)\d{3})*)?|\d+)"
    r"(?:(?P<point>[.,])(?P<fraction>\d{1,2}))?"
)
CORD_COUNT = re.compile(r"(?:x\s*)?(\d+(?:[.,]\d{1,2})?)\s*(?:x|pcs?)?", re.IGNORECASE)  # "2", "2x", "x2", "2 pcs"
CORD_TAGS = {"sub_total.subtotal_price": "subtotal", "sub_total.discount_price": "discount",
             "sub_total.tax_price": "taxes", "total.total_price": "total"}  # fmt: skip
CORD_ITEM_TAGS = ("nm", "cnt", "unitprice", "discountprice", "price", "itemsubtotal")


def gt_parse(annotation, name: str, bare: bool = False):
    """What a Donut-style ground truth holds under `gt_parse` (the object, or a Hub row's `ground_truth` string);
    with `bare`, an annotation without one is taken as it is (SROIE's own key files)."""
    if isinstance(annotation, dict) and isinstance(annotation.get("ground_truth"), str):  # a Hub row's column
        try:
            annotation = json.loads(annotation["ground_truth"])
        except (ValueError, RecursionError):
            raise InputError(f"not a {name} annotation: its ground_truth string is no JSON") from None
    if isinstance(annotation, dict) and "gt_parse" in annotation:
        return annotation["gt_parse"]
    if bare:
        return annotation
    raise InputError(f"not a {name} annotation: no gt_parse object")


def from_sroie(key) -> tuple[dict, list[str]]:
    """A SROIE key as a receipt labelling what it gives of the merchant's name and address, the date and total."""
    key = gt_parse(key, "SROIE", bare=True)
    if not isinstance(key, dict):
        raise InputError(f"not a SROIE key: a JSON {type(key).__name__}, not an object")
    doc, merchant, dropped = {"doc_type": "receipt"}, {}, []
    for name, value in key.items():
        if name not in SROIE_FIELDS:
            dropped.append(f"{name}: not one of SROIE's fields ({', '.join(SROIE_FIELDS)})")
        elif not isinstance(value, str) or not value.strip():
            dropped.append(f"{name}: {reprlib.repr(value)} is no text")
        elif name in ("company", "address"):
            merchant["name" if name == "company" else "address"] = value.strip()
        else:
            try:
                doc[name] = read_date(value) if name == "date" else read_total(value)
            except ValueError as error:
                dropped.append(f"{name}: {error}")
    if merchant:
        doc["merchant"] = merchant
    return doc, dropped


def read_date(text: str, day_first: bool = True) -> str:
    """The ISO date a document prints as "25/12/2018", "25-12-18", "2018-12-25" or "25 Dec 2018"; ValueError when
    it reads as no date. Numbers alone are day first ("05/06/2018" is 5 June), or with `day_first=False` read
    both ways and refused when the two differ. Two-digit years are 20xx."""
    parts = re.findall(r"\d+|[^\W\d_]+", text)
    words = [i for i, part in enumerate(parts) if not part.isdigit()]
    if len(parts) != 3 or len(words) > 1:
        raise ValueError(f"{text!r} is no date")
    if words == [1]:  # 25 Dec 2018, 2018 Dec 25
        readings = [(parts[0], parts[1], parts[2]) if len(parts[0]) == 4 else (parts[2], parts[1], parts[0])]
    elif words == [0]:  # Dec 25, 2018
        readings = [(parts[2], parts[0], parts[1])]
    elif len(parts[0]) == 4:  # 2018-12-25
        readings = [(parts[0], parts[1], parts[2])]
    else:  # 25/12/2018: SROIE's receipts are Malaysian, printed day first; 12/25/2018 only where that is no date
        readings = [(parts[2], parts[1], parts[0]), (parts[2], parts[0], parts[1])]
    dates = []
    for year, month, day in readings:  # (year, month, day), in the order of preference
        if len(year) not in (2, 4) or len(day) > 2:
            continue
        with contextlib.suppress(ValueError):  # month 13, 30 February: no date
            dates.append(dt.date(int(year) + (2000 if len(year) == 2 else 0), month_number(month), int(day)))
    if not dates:
        raise ValueError(f"{text!r} is no date")
    if not day_first and len(set(dates)) > 1:
        raise ValueError(f"{text!r} reads two ways ({' or '.join(f'{d:%-d %B %Y}' for d in dates)})")
    return dates[0].isoformat()


def month_number(month: str) -> int:
    """12 for "12", "Dec", "DEC" or "December"; 0 (no month) for anything else."""
    if month.isdigit():
        return int(month) if len(month) <= 2 else 0
    names = [n for n, name in enumerate(calendar.month_name) if n and name.lower().startswith(month.lower())]
    return names[0] if len(month) >= 3 and len(names) == 1 else 0


def read_total(text: str) -> str:
    """A SROIE total ("9.00", "RM9.00", "1,234.50") as a decimal string, as many decimals as it prints."""
    match = SROIE_TOTAL.fullmatch(re.sub(r"\s", "", text))
    if match is None or not is_decimal(total := match[1].replace(",", "") + (match[2] or "")):
        raise ValueError(f"{text!r} is no amount")
    return total


def from_cord(annotation) -> tuple[dict, list[str]]:
    """A CORD ground truth as a receipt labelling its menu lines, subtotal, discount, tax amount and total.

    Sub-items (a set meal's parts, add-ons) are printed under their parent line and are left out of the line items;
    service charges, payments, counts and voided lines have no place in the schema. Each is reported as dropped.
    """
    parse = gt_parse(annotation, "CORD")
    if not isinstance(parse, dict):
        raise InputError("not a CORD annotation: no gt_parse object")
    doc, dropped = {"doc_type": "receipt"}, []
    for group, value in parse.items():
        if group == "menu" and isinstance(value, dict | list):
            menu = [value] if isinstance(value, dict) else value  # one item comes as the item itself
            doc["line_items"] = [cord_item(item, number, dropped) for number, item in enumerate(menu, start=1)]
        elif group in ("sub_total", "total") and isinstance(value, dict):
            for tag, text in value.items():
                if (key := CORD_TAGS.get(f"{group}.{tag}")) is None:
                    dropped.append(f"{group}.{tag}: no place in the schema")
                    continue
                try:
                    amount = read_number(text)
                except ValueError as error:
                    dropped.append(f"{group}.{tag}: {error}")
                    continue
                if key == "taxes":  # its rate and base are not labelled
                    doc[key] = [{"amount": amount}]
                else:  # a discount printed "-10,000" is 10000 taken off
                    doc[key] = amount.removeprefix("-") if key == "discount" else amount
        else:
            dropped.append(f"{group}: no place in the schema")
    return doc, dropped


def cord_item(item, number: int, dropped: list[str]) -> dict:
    """One menu entry as a line item: its name, count, unit price and amount (its price after any discount).

    menu.price is the line's price before a menu.discountprice: with one, the amount is menu.itemsubtotal, and a
    discount that cannot be read leaves the amount out too, so a discounted line never looks undiscounted.
    """
    if not isinstance(item, dict):
        dropped.append(f"menu: item {number} is {reprlib.repr(item)}, no object")
        return {}
    line, amounts = {}, {}
    for tag, text in item.items():
        if tag == "sub":
            subs = text if isinstance(text, list) else [text]
            names = [sub["nm"] for sub in subs if isinstance(sub, dict) and isinstance(sub.get("nm"), str)]
            dropped.append(f"menu.sub: item {number}'s sub-items ({', '.join(names) or 'unnamed'}) are left out")
        elif tag not in CORD_ITEM_TAGS:
            dropped.append(f"menu.{tag}: item {number}: no place in the schema")
        elif tag == "nm" and isinstance(text, str) and text.strip():
            line["description"] = text.strip()
        elif tag == "cnt" and isinstance(text, str) and (match := CORD_COUNT.fullmatch(text.strip())):
            line["quantity"] = match[1].replace(",", ".")
        elif tag in ("nm", "cnt"):
            what = "name" if tag == "nm" else "count"
            dropped.append(f"menu.{tag}: item {number}: {reprlib.repr(text)} is no {what}")
        else:
            try:
                amounts[tag] = read_number(text)
            except ValueError as error:
                dropped.append(f"menu.{tag}: item {number}: {error}")
    if "unitprice" in amounts:
        line["unit_price"] = amounts["unitprice"]
    if "discountprice" in amounts:
        line["discount"] = amounts["discountprice"].removeprefix("-")
    if "discountprice" not in item:
        amount = amounts.get("itemsubtotal", amounts.get("price"))
    else:
        amount = amounts.get("itemsubtotal") if "discount" in line else None
    if amount is not None:
        line["amount"] = amount
    for tag in ("price", "itemsubtotal"):
        if tag in amounts and amounts[tag] != amount:
            dropped.append(f"menu.{tag}: item {number}: {amounts[tag]} is not the line's amount after its discount")
    return line


def read_number(text) -> str:
    """A CORD amount as a decimal string: "Rp 30.000", "30,000" and "@30000" are "30000", "-5.000" is "-5000"."""
    if not isinstance(text, str):
        raise ValueError(f"{reprlib.repr(text)} is no text")
    match = CORD_NUMBER.fullmatch(re.sub(r"\s|Rp\.?|IDR|@", "", text, flags=re.IGNORECASE))
    if match is None or match["point"] is not None and match["point"] == match["mark"]:
        raise ValueError(f"{text!r} is no amount")
    number = (match["sign"] or "") + re.sub(r"[.,]", "", match["whole"])
    number += f".{match['fraction']}" if match["fraction"] else ""
    if not is_decimal(number):
        raise ValueError(f"{text!r} is no amount the schema holds")
    return number


def is_decimal(text: str) -> bool:
    """Whether the schema takes this decimal string (at most 18 digits before the point and 9 after)."""
    return re.fullmatch(DECIMAL_PATTERN, text) is not None


# DocILE's field types (its KILE and LIR tasks) with a place in the invoice schema; every other is dropped, named.
DOCILE_FIELDS = {
    "document_id": "invoice_number", "date_issue": "issue_date", "date_due": "due_date",
    "vendor_name": "vendor.name", "vendor_address": "vendor.address", "vendor_tax_id": "vendor.tax_id",
    "vendor_email": "vendor.email", "customer_billing_name": "customer.name",
    "customer_billing_address": "customer.address", "amount_total_gross": "total", "amount_total_tax": "taxes.0.amount",
    "payment_terms": "payment_terms",
}  # fmt: skip
# A line's gross (tax included) or net figures: the schema holds one price and one amount per line
DOCILE_LINE_FIELDS = {"line_item_description": "description", "line_item_quantity": "quantity",
                      "line_item_discount_amount": "discount"}  # fmt: skip
DOCILE_LINE_PRICES = {"unit_price_{}": "unit_price", "amount_{}": "amount"}
DOCILE_WHY = {  # why a field type has no place, where a reader would expect one
    "amount_due": "the schema's total is the document's total (amount_total_gross), not what is left to pay",
    "amount_paid": "no place in the schema", "amount_total_net": "the schema's subtotal is before discounts and charges",
    **{f"tax_detail_{part}": "DocILE does not group a tax line's rate, base and amount" for part in
       ("rate", "net", "tax", "gross")},
}  # fmt: skip
DOCILE_AMOUNT = re.compile(r"\((?P<paren>.*)\)|(?P<trailing>.*)-")  # accounting's (12.00) and 12.00- are -12.00


def from_docile(annotation) -> tuple[dict, list[str]]:
    """A DocILE annotation as an invoice labelling the fields with a place in the schema, each only where its
    annotations agree: a field type annotated twice with different texts (a quantity column beside a pack size), a
    date that reads two ways and an amount that reads as no number are dropped, named, never picked."""
    if not isinstance(annotation, dict) or not isinstance(annotation.get("field_extractions"), list):
        raise InputError("not a DocILE annotation: no field_extractions list")
    doc, dropped = {"doc_type": "invoice"}, []
    metadata = annotation.get("metadata") if isinstance(annotation.get("metadata"), dict) else {}
    currency = str(metadata.get("currency", "")).upper()
    if currency in currencies():
        doc["currency"] = currency
    elif currency:
        dropped.append(f"metadata.currency: {metadata['currency']!r} is no ISO 4217 code")
    values = docile_values(annotation["field_extractions"], dropped)
    if len(values.get("tax_detail_tax", ())) > 1 and "amount_total_tax" in values:  # one total of several rates
        dropped.append("amount_total_tax: the document has several tax rates, which DocILE does not group")
        del values["amount_total_tax"]
    for fieldtype, texts in values.items():
        path = DOCILE_FIELDS.get(fieldtype)
        if path is None:
            dropped.append(f"{fieldtype}: {DOCILE_WHY.get(fieldtype, 'no place in the schema')}")
        elif (value := docile_value(fieldtype, texts, dropped)) is not None:
            set_path(doc, path, value)
    if lines := docile_lines(annotation.get("line_item_extractions") or [], dropped):
        doc["line_items"] = lines
    return doc, dropped


def docile_values(extractions: list, dropped: list[str], where: str = "") -> dict[str, list[str]]:
    """Each field type's distinct texts, in the order annotated (an extraction without text is dropped)."""
    values = {}
    for extraction in extractions:
        fieldtype = extraction.get("fieldtype") if isinstance(extraction, dict) else None
        text = extraction.get("text") if isinstance(extraction, dict) else None
        if not isinstance(fieldtype, str):
            dropped.append(f"extraction: {reprlib.repr(extraction)} has no fieldtype")
        elif not isinstance(text, str) or not text.strip():
            dropped.append(f"{fieldtype}: {where}{reprlib.repr(text)} is no text")
        elif text.strip() not in (texts := values.setdefault(fieldtype, [])):
            texts.append(text.strip())
    return values


def docile_value(fieldtype: str, texts: list[str], dropped: list[str], where: str = "") -> str | None:
    """The one value the texts of a field type agree on, read as its schema type; None (dropped) otherwise."""
    if len(texts) > 1:
        dropped.append(f"{fieldtype}: {where}{len(texts)} different texts ({', '.join(map(repr, texts))})")
        return None
    try:
        if fieldtype.startswith("date"):
            return read_date(texts[0], day_first=False)
        if fieldtype.startswith(("amount", "line_item_amount", "line_item_unit_price", "line_item_discount")):
            return read_amount(texts[0])
        if fieldtype == "line_item_quantity":
            return read_number(texts[0])
    except ValueError as error:
        dropped.append(f"{fieldtype}: {where}{error}")
        return None
    return texts[0]


def docile_lines(extractions: list, dropped: list[str]) -> list[dict]:
    """The line items, in line_item_id order: their description, quantity, discount and either their gross
    figures (where the document annotates any) or their net ones, the others dropped."""
    items = {}
    for extraction in extractions:
        number = extraction.get("line_item_id") if isinstance(extraction, dict) else None
        if isinstance(number, int) and not isinstance(number, bool):
            items.setdefault(number, []).append(extraction)
        else:
            dropped.append(f"line_item_extractions: {reprlib.repr(extraction)} has no line_item_id")
    fieldtypes = {e.get("fieldtype") for group in items.values() for e in group}
    kind = "gross" if fieldtypes & {"line_item_unit_price_gross", "line_item_amount_gross"} else "net"
    other = "net" if kind == "gross" else "gross"
    mapping = DOCILE_LINE_FIELDS | {f"line_item_{key.format(kind)}": name for key, name in DOCILE_LINE_PRICES.items()}
    lines = []
    for number in sorted(items):
        line, where = {}, f"item {number}: "
        for fieldtype, texts in docile_values(items[number], dropped, where).items():
            if (name := mapping.get(fieldtype)) is None:
                why = (
                    f"the lines' {kind} figures are used"
                    if fieldtype.endswith(f"_{other}")
                    else "no place in the schema"
                )
                dropped.append(f"{fieldtype}: {where}{why}")
            elif (value := docile_value(fieldtype, texts, dropped, where)) is not None:
                line[name] = value.removeprefix("-") if name == "discount" else value
        lines.append(line)
    return lines


def read_amount(text: str) -> str:
    """An amount as invoices print it, as a decimal string: "$4,759.20" is "4759.20", "1.234,50 EUR" "1234.50", and
    "(12.00)" and "12.00-" are "-12.00"."""
    bare = re.sub(r"\s|[$€£¥₹]|^[A-Z]{3}|[A-Z]{3}$", "", text.strip())
    if (match := DOCILE_AMOUNT.fullmatch(bare)) and not bare.startswith("-"):
        return "-" + read_number(match["paren"] if match["paren"] is not None else match["trailing"])
    return read_number(bare)


def set_path(doc: dict, path: str, value: str):
    """doc's value at `total`, `vendor.name` or `taxes.0.amount` (one tax line, its rate and base unlabelled)."""
    if path == "taxes.0.amount":
        doc["taxes"] = [{"amount": value}]
    elif "." in path:
        parent, key = path.split(".")
        doc.setdefault(parent, {})[key] = value
    else:
        doc[path] = value


IMPORTERS = {"sroie": from_sroie, "cord": from_cord, "docile": from_docile}
