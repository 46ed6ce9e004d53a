"""Pure mapping from OTLP spans to agents, runs, steps, artifacts and metrics. No I/O here."""
