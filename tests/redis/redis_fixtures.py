"""What the Redis tier's tests import by name: a real redis-server on a free port, and waiting.

A module rather than conftest code so test files can import the helpers by name.
The server is `diagops.procs.redis_server.RedisServer`: an append-only file
fsynced on every write, so a SIGKILL and a restart on the same port keep every
acknowledged write (what a production Redis for diagops should be configured to do).
"""

from __future__ import annotations

from diagops.procs.ports import free_port  # noqa: F401 - re-exported for the Redis tests
from diagops.procs.redis_server import REDIS_SERVER, RedisServer  # noqa: F401 - likewise
from tests.waiting import eventually  # noqa: F401 - likewise
