"""A fine-tuning job created through the drop-in client is settled when the drop-in client sees
it end, not only when `unyo finetune list/show/attach` does: `fine_tuning.jobs.retrieve`,
`cancel` (and, on the sync client, the first page of `list`) settle each ended job they return,
once (`_money._fine_tuning.settle_job`). Without this, a program that polls with the SDK's own
calls would leave the job's hold until it expired (HOLD_S) and its cost out of the ledger.
"""

from __future__ import annotations

import functools
from typing import Any

SETTLE_ON = {
    ("fine_tuning", "jobs", "retrieve"): True,  # path -> also on the async client
    ("fine_tuning", "jobs", "cancel"): True,
    ("fine_tuning", "jobs", "list"): False,  # async: a paginator (`async for`), left as the SDK's
}


def settle_seen(settings: Any, result: Any) -> None:
    from unyo._money._fine_tuning import settle_job

    jobs = getattr(result, "data", None) if getattr(result, "object", None) != "fine_tuning.job" else [result]
    for job in jobs or []:
        if getattr(job, "object", None) == "fine_tuning.job":
            settle_job(settings, job)


def settling(client: Any, path: tuple[str, ...], plain: Any) -> Any:
    """`plain` (a free SDK method), settling the ended jobs it returns; `plain` itself elsewhere."""
    if path not in SETTLE_ON or (client._is_async and not SETTLE_ON[path]):
        return plain
    if client._is_async:

        @functools.wraps(plain)
        async def settle_after_async(*args: Any, **kwargs: Any) -> Any:
            from unyo._core._offload import offload

            result = await plain(*args, **kwargs)
            await offload(settle_seen, client.settings, result)
            return result

        return settle_after_async

    @functools.wraps(plain)
    def settle_after(*args: Any, **kwargs: Any) -> Any:
        result = plain(*args, **kwargs)
        settle_seen(client.settings, result)
        return result

    return settle_after
