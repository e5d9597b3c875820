"""Fixtures of the accounting e2e suite (usage and cost end to end, faults, redaction,
fallback, PostgreSQL). The parent conftest's stack, stack_factory, processes and
secret_registry are inherited; every module here works in its own workspace."""

from __future__ import annotations

import re

import pytest

from tests.e2e.accounting.support import AcctTenant, create_acct_tenant, register
from tests.e2e.conftest import Stack


@pytest.fixture(scope="module")
def acct(
    stack: Stack, secret_registry: dict[str, str], request: pytest.FixtureRequest
) -> AcctTenant:
    """A priced workspace on the shared stack with OpenAI-compatible, Azure and Anthropic
    providers at the shared mock, and a key the shared data plane accepts."""
    prefix = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    prefix = prefix.removeprefix("test-").strip("-")[:20] or "acct"
    tenant = create_acct_tenant(stack.admin, stack.mock.url, stack.dp.url, prefix=prefix)
    return register(secret_registry, tenant)
