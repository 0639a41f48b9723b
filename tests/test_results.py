"""One result protocol for the high-level API: `calls`, `cost_usd`, `to_dict()`."""

from __future__ import annotations

import json
from decimal import Decimal

from pydantic import BaseModel

import unyo
from unyo.testing import FaultServer

from .conftest import fast_settings


class Ticket(BaseModel):
    category: str


def test_every_high_level_result_speaks_the_same_protocol(fault: FaultServer) -> None:
    client = unyo.OpenAI(settings=fast_settings(fault))

    @unyo.tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return "shipped"

    text_stream = unyo.stream("hi", client=client)
    for _ in text_stream:
        pass
    results = {
        "ask": unyo.ask("hi", client=client),
        "ask_structured": unyo.ask_structured("hi", Ticket, client=client),
        "classify": unyo.classify("アプリが落ちます", {"bug": "不具合", "billing": "請求"}, client=client),
        "ask_with_tools": unyo.ask_with_tools(
            "order A-1?", unyo.ToolRegistry([lookup]), allow=["lookup"], client=client
        ),
        "run_task": unyo.run_task("triage", "請求書が二重に届きました", client=client),
        "stream": text_stream.result,
    }
    for name, result in results.items():
        assert isinstance(result, unyo.Result), name
        assert result.calls and all(isinstance(c, unyo.CallInfo) for c in result.calls), name
        assert result.cost_usd == sum((c.cost_usd for c in result.calls), Decimal(0)), name
        record = result.to_dict()
        assert json.loads(json.dumps(record, default=str)), name
        assert str(result.cost_usd) in json.dumps(record, default=str), name
    assert str(results["ask"]) == results["ask"].text
