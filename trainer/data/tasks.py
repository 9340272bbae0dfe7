"""The tasks a document teaches, each with its prompt defined here and nowhere else.

- extract: page → the document's canonical JSON (FinScribe's task)
- table:   PaddleOCR-VL's own `Table Recognition:` → OTSL of the line items
- ocr:     PaddleOCR-VL's own `OCR:` → the page text in reading order
"""

PROMPTS = {
    "extract": "Information Extraction (JSON):",
    "table": "Table Recognition:",
    "ocr": "OCR:",
}
# The dataset column each task's answer comes from.
TARGETS = {"extract": "ground_truth", "table": "table_otsl", "ocr": "text"}
