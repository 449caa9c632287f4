"""`diagops bench`: cache-hit, update-latency and fan-out benchmarks with their references."""
