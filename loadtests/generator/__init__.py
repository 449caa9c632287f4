"""The Locust half of the load test: importing its modules imports locust and gevent.

`import locust` monkey-patches the whole process with gevent (sockets, threads,
time.sleep), so only a Locust process may import anything from
here: the `locust` command loading `locustfile.py`, or a test process that
imports locust first. The CLI never does; it starts Locust as a child process,
names the locustfile by path (`plan.LOCUSTFILE`) and reads what it writes. This
`__init__` itself imports nothing, so tools that walk the installed packages
can list this one without patching their process.

- `locustfile.py`: the scenario, a thin file of tasks, weights and listeners.
- `user.py`: the reusable, abstract user of the push service (HTTP start, one WebSocket).
- `client.py`: that WebSocket, reconnecting and resuming, for one user.
- `reporting.py`: one call that reports an outcome to Locust's statistics and the tally.
- `options.py`: the scenario's Locust options.
- `coordinator.py`: per-process wiring (the tally, run control, live figures, `raw.json`).
- `probe.py`: what the generator process itself costs and adds (CPU, dispatch lag).
"""
