"""The I/O shell around the rules: consume, load, decide, persist, publish; timers; delivery."""
