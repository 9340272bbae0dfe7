"""What several test modules use that is not a fixture (fixtures live in conftest.py): two exact documents, one of
each type, and the quickstart recipe's command line pointed at a test's folders. No test module imports another."""

INVOICE = {
    "doc_type": "invoice",
    "invoice_number": "INV-0001",
    "issue_date": "2024-03-05",
    "due_date": "2024-04-04",
    "currency": "EUR",
    "prices_include_tax": False,
    "vendor": {
        "name": "Acme GmbH",
        "address": "Hauptstr. 1\n10115 Berlin",
        "tax_id": "DE123456789",
        "email": "a@acme.de",
        "phone": "030 123",
    },
    "customer": {"name": "Beta AG", "address": "Ring 2\n80331 München"},
    "line_items": [
        {"description": "Consulting", "quantity": "2.5", "unit_price": "100.00", "amount": "250.00"},
        {"description": "Book", "quantity": "3", "unit_price": "19.99", "amount": "59.97"},
    ],
    "subtotal": "309.97",
    "discount": "10.00",
    # the discount is split across the rates: 250.00 - 8.07 and 59.97 - 1.93
    "taxes": [{"rate": "7", "base": "58.04", "amount": "4.06"}, {"rate": "19", "base": "241.93", "amount": "45.97"}],
    "shipping": "4.90",
    "rounding": "0.00",
    "total": "354.90",
    "payment_terms": "Net 30 days",
}
RECEIPT = {
    "doc_type": "receipt",
    "merchant": {"name": "Shop", "address": "1 High St"},
    "date": "2024-03-05",
    "time": "09:15",
    "currency": "JPY",
    "prices_include_tax": False,
    "line_items": [{"description": "牛乳", "quantity": "2", "unit_price": "215", "amount": "430"}],
    "subtotal": "430",
    "discount": "0",
    "taxes": [{"rate": "8", "base": "430", "amount": "34"}],
    "rounding": "0",
    "total": "464",
    "payment_method": "現金",
}


def sft_argv(model_dir, dataset_dir, output_dir, *extra: str) -> list[str]:
    """The quickstart recipe pointed at the test's model, data and output folder, with a LoRA adapter."""
    paths = [
        "--model_name_or_path",
        str(model_dir),
        "--dataset_name",
        str(dataset_dir),
        "--output_dir",
        str(output_dir),
    ]
    quiet = ["--disable_tqdm", "true", "--report_to", "none"]
    fast = ["--field_accuracy_samples", "0"]  # generation at each evaluation: tested once, in test_sft's push test
    lora = ["--use_peft", "true"]  # the quickstart fine-tunes its random stand-in whole; most tests train adapters
    return ["--config", "recipes/quickstart.yaml", *paths, *quiet, *fast, *lora, *extra]
