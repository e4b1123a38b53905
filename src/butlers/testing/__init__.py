"""Test support for Butlers and for people writing modules: embedded PostgreSQL, model-API stand-in."""
