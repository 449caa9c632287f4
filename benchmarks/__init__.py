"""Benchmarks of the push service (not tests): scripts that print numbers. See benchmarks/README.md."""
