"""Modules: integrations and domain capabilities that plug into a butler."""

from butlers.modules.base import Module, ModuleContext

__all__ = ["Module", "ModuleContext"]
