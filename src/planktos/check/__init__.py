"""``planktos check URL``: is a deployed Planktos site right? See :mod:`planktos.check.site`.

Nothing is imported here: ``planktos build`` reads :mod:`planktos.check.judge` for its URL
check, and must not pay for aiohttp's client at start-up.
"""
