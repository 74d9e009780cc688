"""The HTTP side: the aiohttp app, console REST and websocket, auth, files, the console hub."""
