"""The `diagops loadtest` scenario and everything around it.

Only `loadtests.diagnosis` (the Locust file) and the modules it alone imports
(`loadtests.socket_client`, `loadtests.locust_hooks`, `loadtests.probe`) may import locust or
gevent: `import locust` monkey-patches the whole process (see FINDINGS.md), so
it must only ever happen in a Locust child process. Every other module here is
plain Python that the CLI imports to plan a run, watch it and judge it.
"""
