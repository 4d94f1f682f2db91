"""``pystrument-server demo``: the server on the embedded default, an instrumented sample shop in two
versions, traffic, analysis, and a URL to open (see run.py)."""
