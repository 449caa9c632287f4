"""Prometheus rules and their runbook, generated from the SLO spec.

A chain of small steps, as in Sloth: `slis` names the indicators and their
PromQL, `recording` turns them into recording rules, `burnrate` and
`operational` into alerts, `render` and `runbook` into files. Importing it
loads only pyyaml and the spec, so the CLI stays fast; generating also reads
the service's histogram bounds (`diagops.push.metrics`, with prometheus_client),
imported only then.
"""

from diagops.alerts.generate import GenerateError, build_groups, render_rules, render_runbook

__all__ = ["GenerateError", "build_groups", "render_rules", "render_runbook"]
