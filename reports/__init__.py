"""The acceptance report: its renderings and its attestations.

Each output format of the gate's result is one module with one entry point (Markdown from a
Jinja2 template, JSON, JUnit XML, SVG charts); they read the result and never run a check. The
report's content outside its sign-off block is the subject of every statement: the gate's test
result and each approver's signed approval sit beside the report as in-toto statements in DSSE
envelopes, one per line of `<report stem>.intoto.jsonl`. Importing this package is cheap:
securesystemslib is imported by the modules that sign and verify.
"""
