"""Document datasets → instruction pairs for training (`tasks`, `dataset`), and users' own data → documents (`build`)."""
