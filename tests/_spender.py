"""A process that makes THREADS concurrent calls through unyo against URL, all starting at
START (a wall-clock time), and prints one JSON line per call: its outcome and cost. Used by the
budget proof tests to race reservations across processes."""

import json
import os
import sys
import threading
import time

import unyo

THREADS = int(os.environ["SPENDER_THREADS"])
START = float(os.environ["SPENDER_START"])


def one(results: list, lock: threading.Lock) -> None:
    client = unyo.OpenAI(base_url=os.environ["SPENDER_URL"], api_key=os.environ["SPENDER_KEY"], model="gpt-4o-mini")
    time.sleep(max(0.0, START - time.time()))
    try:
        r = client.responses.create(input="Summarise: the invoice was paid late.", max_output_tokens=40)
        info = unyo.call_info(r)
        out = {"outcome": "ok", "cost": str(info.cost_usd), "reserved": str(info.worst_case_usd)}
    except unyo.BudgetExceeded as exc:
        out = {"outcome": "refused", "spent": str(exc.spent), "reserved": str(exc.reserved)}
    except unyo.UnyoError as exc:
        out = {"outcome": type(exc).__name__}
    with lock:
        results.append(out)


def main() -> None:
    results: list = []
    lock = threading.Lock()
    threads = [threading.Thread(target=one, args=(results, lock)) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        print(json.dumps(r))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
