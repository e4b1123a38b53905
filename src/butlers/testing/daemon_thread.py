"""A Supervisor served in a thread of its own, for test modules that share one daemon.

pytest-asyncio gives each test its own event loop; a daemon that several tests
call over real HTTP has to outlive them, so it gets a thread and a loop of its own
(an anyio blocking portal). `serve_in_thread` returns once every butler is serving
(or failed), and stops the daemon, draining it, when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio.from_thread

from butlers.config import discover
from butlers.modules.loader import Registry
from butlers.settings import Settings
from butlers.supervisor import Supervisor

STOP_TIMEOUT_S = 60.0


@contextmanager
def serve_in_thread(settings: Settings, module_registry: Registry | None = None) -> Iterator[Supervisor]:
    """Serve every butler of `settings.dir` until the block ends."""
    configs, errors = discover(settings.dir)
    supervisor = Supervisor(settings, configs, errors, module_registry=module_registry)
    with anyio.from_thread.start_blocking_portal() as portal:
        running, _ = portal.start_task(supervisor.run)
        try:
            yield supervisor
        finally:
            portal.call(supervisor.request_stop)
            running.result(timeout=STOP_TIMEOUT_S)
