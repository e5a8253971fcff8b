"""Use cases: each flushes its changes and leaves committing to the caller's boundary."""
