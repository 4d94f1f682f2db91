"""pystrument.server: the Starlette API, stores, statistics, version comparison and the CLI.

    from pystrument.server import create_app, ServerSettings
    app = create_app(ServerSettings(store="sqlite:///data/pystrument.db"))
"""

from pystrument.server.app import create_app
from pystrument.server.settings import ServerSettings, load_settings
from pystrument.server.version import __version__

__all__ = ["ServerSettings", "__version__", "create_app", "load_settings"]
