"""What flows between processes (messages) and how (the Bus and its backends)."""
