"""``planktos mirror``: volunteers keep a site up by seeding its shards from any machine.

Nothing here imports libtorrent at import time; :mod:`planktos.mirror.swarm` does when the
command starts (the optional extra ``planktos[mirror]``).
"""
