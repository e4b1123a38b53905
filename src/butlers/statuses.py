"""The status vocabularies of the core tables (and the notify module's), each written once.

Every enum here mirrors a SQL CHECK constraint in `migrations/` (or in a
module's migrations): tests/integration/test_status_vocabularies.py reads each
constraint from a real database and compares. Tool parameters and CLI choices
use these enums, so the JSON schema and `--help` list the allowed values.
Below `config` and `core` in the layers, so both can use them.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """sessions.status: queued → running → one of the final states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self not in ACTIVE_SESSION


ACTIVE_SESSION = frozenset({SessionStatus.QUEUED, SessionStatus.RUNNING})
FINISHED_SESSION = frozenset(set(SessionStatus) - ACTIVE_SESSION)


class TriggerSource(StrEnum):
    """sessions.trigger_source: what started a session."""

    TRIGGER_TOOL = "trigger_tool"
    SCHEDULE = "schedule"
    TICK = "tick"
    ROUTE = "route"
    INBOUND = "inbound"


class ApprovalStatus(StrEnum):
    """approvals.status: pending → running → succeeded | failed, or pending → rejected."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


class InboundStatus(StrEnum):
    """inbound_messages.status: received → dispatched → handled | failed; or received → ignored | failed."""

    RECEIVED = "received"
    DISPATCHED = "dispatched"
    HANDLED = "handled"
    FAILED = "failed"
    IGNORED = "ignored"


class ScheduleSource(StrEnum):
    """schedules.source: from butler.toml or made at runtime (schedule_create, remind)."""

    CONFIG = "config"
    RUNTIME = "runtime"


class MisfirePolicy(StrEnum):
    """schedules.misfire: missed windows run once (coalesce) or each (all)."""

    COALESCE = "coalesce"
    ALL = "all"


class ToolRunStatus(StrEnum):
    """schedule_runs.tool_status: a tool-mode window's way from queued to its outcome."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class NotificationStatus(StrEnum):
    """notifications.status (the notify module's delivery status)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"


class HeldReason(StrEnum):
    """notifications.held_reason: why a notification waits."""

    APPROVAL = "approval"
    QUIET_HOURS = "quiet_hours"


class Priority(StrEnum):
    """notifications.priority: low and normal wait out the owner's quiet hours."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
