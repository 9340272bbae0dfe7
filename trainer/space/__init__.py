"""The Space's library: reading a page with both models, the field rows, flagging (reader.py); staging it (`python -m trainer.space`)."""
