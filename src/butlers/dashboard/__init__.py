"""The dashboard: web pages and a JSON API over the daemon's live butlers (docs/dashboard.md).

Served by `butlerd` itself (`service.DashboardService`, one task in the supervisor's
task group); reads the butler objects and their pools directly, never over HTTP.
"""

from butlers.dashboard.service import DashboardService

__all__ = ["DashboardService"]
