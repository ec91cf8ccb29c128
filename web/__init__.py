"""The one aiohttp server: app assembly, auth, JSON API, websocket gateway, pages.
The only package that imports aiohttp."""
