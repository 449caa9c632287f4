"""The Redis store's Lua scripts (redis_*.lua beside this file), run by EVALSHA.

Not redis-py's `register_script`: its objects ask on every call whether the
client is a pipeline, an `isinstance` against a class built on `typing.Protocol`
(redis-py's command mixins are), which showed as 2 % of a publish's CPU under
load. The store never runs a script in a pipeline, so that is settled here once:
a call is one EVALSHA on the client it is given, and a NOSCRIPT answer (Redis
restarted, or its script cache was flushed) loads the script and runs it again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

_HERE = Path(__file__).parent


class LuaScript:
    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    @classmethod
    def named(cls, name: str) -> LuaScript:
        """`redis_<name>.lua` from this package."""
        return cls((_HERE / f"redis_{name}.lua").read_text(encoding="utf-8"))

    async def run(self, client: Redis, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            self.sha = await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)
