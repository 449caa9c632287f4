"""Fan-out load client for WebSocket push servers, and the measurements taken around it.

Importable API (benchmarks/push_bench.py and other benchmarks use these):

- `Target(name, kind, host, port, pids, secret=None)`: a server to load. `kind` is
  "diagops" (subscribe frame over /ws, publish API with a JWT) or "nchan" (WebSocket
  on /sub?id=, HTTP POST on /pub?id=). `pids` are the server processes whose CPU and
  RSS are measured, their child processes included (nginx workers, `serve --workers`).
- `run_fanout(target, sockets, seconds, ...) -> dict`: `sockets` sockets, each
  subscribed to one of `sockets // fanout` executions; every execution gets one
  ~`event_bytes` event per `period_s`, published over HTTP from a separate process;
  after `warmup_s`, a window of `seconds` is measured: delivered messages per second,
  delivery latency (server `timestamp`, ms precision, and the publisher's
  `data.sent_at`, µs precision), server CPU per delivered message, CPU of every
  client process and of the machine, and which side was saturated.
- `measure_idle(target, counts, ...) -> dict`: server RSS per idle subscribed socket.

One job per module: `target` (the server under load), `events` (the pushed
frame), `subscriber` (the raw WebSocket client), `publisher` (the HTTP
publisher), `child` (a client process's start and its pipe), `harness` (the
client processes of a run), `cpu` (CPU accounting and what limited a run),
`stats` (percentiles), `runs` (the measurements above). The client's own CPU
is measured and reported with every run, so a saturated client is visible.
"""

from diagops.bench.wsload.child import raise_nofile
from diagops.bench.wsload.cpu import CpuWindow, ProcTree, limits_of
from diagops.bench.wsload.runs import measure_idle, run_fanout
from diagops.bench.wsload.target import Target

__all__ = ["Target", "CpuWindow", "ProcTree", "run_fanout", "measure_idle", "raise_nofile", "limits_of"]
