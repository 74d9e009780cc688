"""The routing engine and the process around it."""
