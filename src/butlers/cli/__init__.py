"""Command-line entry points: `butlerd` (the daemon) and `butlerctl` (administration)."""
