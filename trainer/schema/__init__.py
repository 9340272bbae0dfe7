"""The financial documents FinScribe reads: one module per type (invoice.py, receipt.py), the rules they share
(common.py), and canonical JSON, validation and reading stored truths (document.py)."""
