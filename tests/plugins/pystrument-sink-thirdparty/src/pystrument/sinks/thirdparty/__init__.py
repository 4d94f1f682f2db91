"""A third-party sink living in our namespace: ``thirdparty://`` counts what it receives."""

from pystrument.core import hookimpl

RECEIVED: list = []


class ThirdPartySink:
    def __init__(self, url, config):
        self.name = url

    def send(self, batch):
        RECEIVED.extend(batch)

    def close(self):
        pass


@hookimpl
def register_sinks(register):
    register("thirdparty", ThirdPartySink)
