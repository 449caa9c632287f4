"""The diagnosis push service: the wire contract's WebSocket and HTTP API, metrics and stores.

`push.protocol`, `push.errors` and `push.client` import nothing heavy, so the
CLI, the load test and the acceptance checks can use them; the server itself
(`push.app`) imports aiohttp.
"""
