"""Operations: Prometheus metrics over HTTP, health checks and structured JSON logs."""
