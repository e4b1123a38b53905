"""Butlers: a self-hosted personal AI agent framework."""
