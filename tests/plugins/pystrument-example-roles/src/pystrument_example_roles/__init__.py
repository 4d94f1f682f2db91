"""Example third-party plugins, one module per role (see docs/plugins.md): ``profiler``, ``adapter``, ``store``."""
