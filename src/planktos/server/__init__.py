"""The aiohttp server behind ``planktos serve``: static files, access log, tracker, stats."""
