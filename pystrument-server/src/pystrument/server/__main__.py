"""``python -m pystrument.server`` is ``pystrument-server``."""

from .cli import main

main()
