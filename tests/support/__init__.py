"""The tests' own support code (not part of the installed package)."""
