"""`unyo image`: generate images through the guarded Images API and save them (0600)."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from unyo._cli._shared import client_for, read_prompt


def run(args: Namespace) -> int:
    from unyo._quality._image_gen import generate_image
    from unyo._types._prices import usd

    prompt = read_prompt(args.prompt)
    client = client_for(args.profile, user=args.user, tag=args.tag)
    result = generate_image(
        prompt, output=args.output, model=args.model, size=args.size, quality=args.quality, n=args.n, client=client
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    for path, digest in zip(result.paths, result.sha256, strict=True):
        print(f"{path}  sha256:{digest[:16]}…")
    info = result.call
    print(
        f"[{info.profile}:{info.model} · {info.status} · cost {usd(info.cost_usd)} "
        f"(reserved {usd(info.worst_case_usd)}) · attempts {info.attempts}]",
        file=sys.stderr,
    )
    return 0
