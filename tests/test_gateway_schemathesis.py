"""Spec conformance: schemathesis generates requests from the official OpenAPI spec
(../shared/openai-openapi.yaml) for the subset `unyo serve` serves, sends them to a real
`unyo serve` (upstream = the fault server), and checks that no answer is a 5xx and that every
documented answer matches the spec's response schema."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_helpers import Served, gateway_env
from tests.test_shapes import SPEC
from unyo.testing import FaultServer

schemathesis = pytest.importorskip("schemathesis")
SERVED = r"^/(responses|chat/completions|embeddings|models|responses/\{response_id\})$"
OPERATIONS = (
    "POST /responses",
    "POST /chat/completions",
    "POST /embeddings",
    "GET /models",
    "GET /responses/{response_id}",
)
EXAMPLES = 25


@pytest.fixture
def served(fault: FaultServer, tmp_path: Path) -> Iterator[Served]:
    server = Served(gateway_env(fault.url, f"sqlite:///{tmp_path / 'gw' / 'unyo.db'}"), tmp_path / "serve.log")
    yield server
    server.stop()


def test_the_served_subset_of_the_spec_finds_no_5xx_and_no_broken_response(served: Served) -> None:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not present")
    schema = schemathesis.openapi.from_path(str(SPEC)).include(path_regex=SERVED)
    operations = [result.ok() for result in schema.get_all_operations() if result.ok().label in OPERATIONS]
    assert sorted(op.label for op in operations) == sorted(OPERATIONS)
    key = served.new_key(name="spec")
    statuses = {op.label: exercise(op, served, key) for op in operations}
    assert all(sum(c.values()) > 0 for c in statuses.values()), statuses
    assert not any(code >= 500 for c in statuses.values() for code in c), statuses
    assert statuses["GET /models"][200] > 0 and "Traceback" not in served.log.read_text()


def exercise(operation: Any, served: Served, key: str) -> Counter[int]:
    """Send EXAMPLES generated requests for one operation; the status codes seen."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    seen: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(base_url=f"{served.url}/v1", headers={"authorization": f"Bearer {key}"}, timeout=60)
        seen[response.status_code] += 1
        case.validate_response(response, checks=[checks.not_a_server_error, checks.response_schema_conformance])

    run()
    return seen
