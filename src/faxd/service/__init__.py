"""The service: daemon wiring, signals, and the one-shot commands of the CLI."""
