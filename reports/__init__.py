"""The acceptance report and its outputs: Markdown (Jinja2), JSON, JUnit XML, charts, attestations.

Each output format is one module with one entry point; they read the gate's results and never
run a check themselves.
"""
