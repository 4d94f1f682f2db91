"""Scale-out on Redis (``--redis URL``): the shared aggregate cache, the shared rate limits, RQ analysis
jobs, the consumer of the Redis sink's stream, cluster-wide periodic work and ``pystrument-server worker``.

Nothing here is imported unless Redis is configured (or the worker command runs): the embedded default
does not need redis-py or RQ.
"""
