"""Synthetic documents with exact labels: `python -m trainer.synth` (__main__.py) over generate.py (one document),
writer.py (Parquet chunks), the document types' labels (invoice.py, receipt.py), their layouts (invoice_layouts.py,
receipt_layouts.py, fapiao.py) and the drawing and realism modules; the catalogues and words are data, in tables/."""
