"""Throughput benchmark of the service against a raw ASGI app (see bench/README.md)."""
