"""The Grafana dashboard, generated from the SLO spec with grafana-foundation-sdk.

Queries reuse `alerts.slis` and the recording-rule names, so a panel shows
exactly what an alert fires on.
"""
