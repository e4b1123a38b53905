"""Every use of another library's private API, in one place.

Each shim here leans on something a library does not promise to keep: an
underscore attribute, an internal module. `tests/unit/test_compat.py` checks
each one against the installed version and fails naming the library and its
version when an upgrade moves it, so the break shows in CI, not in production.
"""

from __future__ import annotations

import contextlib

from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport


class KillableTransport(SubprocessCLITransport):
    """claude-agent-sdk's CLI transport, plus a way to kill the CLI at once (timeout, cancel).

    The SDK's own close() waits up to 5 s for a graceful exit, then 5 s more
    after SIGTERM; a hung session must stop now. Private: the internal module
    path and the `_process` attribute.
    """

    killed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def kill(self) -> None:
        # Remembered: a stop that lands while the CLI is still starting kills it once it exists.
        self.killed = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def connect(self) -> None:
        await super().connect()
        if self.killed:
            self.kill()

    async def close(self) -> None:
        if self.killed:
            self.kill()  # no 5 s grace for a process we stopped
        await super().close()
