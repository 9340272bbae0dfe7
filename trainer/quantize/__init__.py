"""Deployment variants: making them (variants.py), measuring them (measure.py), their card (card.py); the command is `python -m trainer.quantize`."""
