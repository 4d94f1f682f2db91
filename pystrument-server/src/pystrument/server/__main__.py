"""``python -m pystrument.server`` is ``pystrument-server``."""

from pystrument.server.cli import main

main()
