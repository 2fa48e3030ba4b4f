"""The real bot (``bot.serve.serve``) in a process of its own, for drills that kill it.

    PYTHONPATH=<repo> DRILL_ARM_URL=http://127.0.0.1:<port> SLACK_BOT_TOKEN=… \\
        python -m tests.drills.bot_process --port 3000

As light as ``failover-bot serve``: this process is the front. It names the gateway
(``tests.drills.fake_arm_wire``: the real SDK, its wire diverted to the fake ARM) to its
work process, which reads the settings from the environment and builds the gateway there,
as in production.
"""

from __future__ import annotations

import argparse

GATEWAY = "tests.drills.fake_arm_wire:fake_arm_gateway"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from bot.serve import serve

    return serve(port=args.port, gateway_factory=GATEWAY)


if __name__ == "__main__":
    raise SystemExit(main())
