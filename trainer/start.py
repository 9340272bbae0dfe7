"""Imported first by every command (and the Space's app), before transformers: drops what optional dependencies
print as they are imported, for the rest of the process.

transformers imports torchao with its model classes once torchao is installed (the `deploy` extra), so a command's
own `from transformers import …` would print these before its `main` starts. Library modules never import this:
`import trainer` or `import trainer.inference` leaves logging as it was.
"""

from trainer.quiet import drop_import_noise

drop_import_noise()
