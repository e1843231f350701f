"""The application on top of the library: ``train.run(cfg)``, the command lines, Hydra callbacks.

Only this package knows about Hydra; it turns a composed config into the typed settings of
:mod:`sci_lightning.settings` and hands ready objects to the library.
"""
