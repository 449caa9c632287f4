"""Child processes for the CLI, the benchmarks and the tests: start one, wait until it is ready, stop it.

`executor.Executor` does the work for every kind of child; `readiness` holds the
conditions it waits for, `ports` and `probes` the small helpers around them, and
`service` / `redis_server` the two children several callers start (`diagops
serve`, a throwaway `redis-server`). Standard library only, so the CLI can use
it without slowing its start; nothing here imports the CLI, the load test, the
tests or the benchmarks.
"""
