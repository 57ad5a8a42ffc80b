"""Offload statistics: visitors' reports, the server's own counts, SQLite aggregates.

Pure parts (:mod:`.report`, :mod:`.ratelimit`, :mod:`.buckets`) carry no I/O; :mod:`.db` is
the SQLite store, :mod:`.web` the aiohttp adapter, :mod:`.terminal` the ``planktos stats``
output.
"""
