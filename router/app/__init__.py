"""The process: cli, the composition root (daemon), settings and YAML loading, logs, metrics, clock."""
