from trainer.quiet import drop_import_noise

drop_import_noise()
