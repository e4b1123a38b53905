"""The connection budget: pools sized from max_connections, a clear error when they cannot fit."""

from __future__ import annotations

import pytest

from butlers.pool_budget import (
    ADMIN_HEADROOM,
    MAX_POOL,
    MIN_POOL,
    ConnectionBudgetError,
    ServerLimits,
    embedded_target,
    needed_connections,
    plan,
)

DEFAULT = ServerLimits(max_connections=100, superuser_reserved=3)


def test_a_few_butlers_get_full_pools() -> None:
    assert plan(4, DEFAULT, embedded=True).pool_max_size == MAX_POOL


def test_pools_shrink_to_fit_the_server() -> None:
    budget = plan(15, DEFAULT, embedded=False)
    # 100 - 3 reserved - 10 admin - 15 at start = 72 -> 4 each
    assert budget.pool_max_size == (100 - 3 - ADMIN_HEADROOM - 15) // 15
    assert 15 * (budget.pool_max_size + 1) + ADMIN_HEADROOM + 3 <= 100


def test_fifty_butlers_on_a_default_server_name_the_setting() -> None:
    with pytest.raises(ConnectionBudgetError) as err:
        plan(50, DEFAULT, embedded=True)
    text = str(err.value)
    assert "50 butlers need at least 213 PostgreSQL connections" in text
    assert "max_connections is 100" in text
    assert "BUTLERS_PG_MAX_CONNECTIONS=213" in text


def test_an_external_server_is_told_to_raise_max_connections() -> None:
    with pytest.raises(ConnectionBudgetError, match=r"raise max_connections to 213 .* postgresql.conf"):
        plan(50, DEFAULT, embedded=False)


def test_the_figure_in_the_error_is_enough() -> None:
    need = needed_connections(50)
    assert plan(50, ServerLimits(need, 3), embedded=True).pool_max_size == MIN_POOL
    with pytest.raises(ConnectionBudgetError):
        plan(50, ServerLimits(need - 1, 3), embedded=True)


def test_the_embedded_target_fits_full_pools_unless_set() -> None:
    assert embedded_target(4, None) == 100
    assert plan(50, ServerLimits(embedded_target(50, None), 3), embedded=True).pool_max_size == MAX_POOL
    assert embedded_target(50, 300) == 300
