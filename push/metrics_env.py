"""The switch for metrics shared across `serve --workers` processes, importable without
prometheus_client (it must be set before that library is first imported)."""

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
