"""Bucket bounds of the service's histograms.

They sit with the objectives because they constrain them: a latency or duration
threshold must be one of these bounds, or the rules could not count the
observations under it. The service builds its histograms from these tuples and
the alert generator checks the thresholds against them, so both read one copy.
"""

from __future__ import annotations

# diagops_push_latency_seconds: event accepted to frame written (0.1, 0.25, 0.5, 1 s are thresholds).
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# diagops_diagnosis_duration_seconds: first to final event of a diagnosis.
DURATION_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# diagops_store_operation_seconds: one store call.
STORE_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
