"""The `diagops loadtest` scenario and everything around it.

Two halves. The modules here are plain Python that the CLI imports to plan a
run, start its processes, watch it and judge it. `diagops.loadtests.generator` is
the Locust half: every module there imports locust and gevent, and
`import locust` monkey-patches the whole process, so only a
Locust child process ever imports it; the CLI names its locustfile by path
(`plan.LOCUSTFILE`) and never imports it.
"""
