"""Entry point of ``python -m sci_lightning.plan``; the command is :mod:`sci_lightning.app.plan`."""

from sci_lightning.app.plan import main

if __name__ == "__main__":
    main()
