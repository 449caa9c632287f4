"""The release gate's acceptance checks: small units in one registry, run against a target.

Each check is an async function with its metadata attached by `@check(...)` (registry.py); the
runner calls each inside its own error boundary (a crashed check is a failure with its traceback
as evidence, never a silent pass), and `scoring` turns the results into one verdict that names
the checks that decided it. Importing this package is cheap: network libraries are imported by
the checks when they run.
"""
