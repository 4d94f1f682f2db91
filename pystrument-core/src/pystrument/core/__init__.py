"""pystrument.core: configuration, plugins, profiling and background delivery.

    from pystrument.core import configure, monitor_performance, PerformanceCollector, Config
"""

from .api import PerformanceCollector, monitor_performance
from .client import Client, configure, flush, get_client, stats
from .config import Config, ConfigError
from .plugins import hookimpl, list_plugins, load_plugins
from .record import AppInfo, CallNode, ErrorInfo, Record
from .version import __version__

__all__ = [
    "AppInfo", "CallNode", "Client", "Config", "ConfigError", "ErrorInfo", "PerformanceCollector", "Record",
    "__version__", "configure", "flush", "get_client", "hookimpl", "list_plugins", "load_plugins",
    "monitor_performance", "stats",
]
