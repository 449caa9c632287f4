"""The Locust half of the load test: importing its modules imports locust and gevent.

`import locust` monkey-patches the whole process with gevent (sockets, threads,
time.sleep), so only a Locust process may import anything from here: the
`locust` command loading `locustfile.py`, or a test process that imports locust
first. The CLI never does; it starts Locust as a child process and reads what
it writes. This `__init__` itself imports nothing, so tools that walk the
installed packages can list this one without patching their process.
"""
