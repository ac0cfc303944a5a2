"""Host-side transcendent memory backend: protocol codec, page store, asyncio server."""
