"""Runs the demo shop, instrumented with the ASGI adapter and the HTTP sink, as its own process:

    python -m pystrument.demo.shop_app --app-dir DIR --version 1.1 --port 8101 --api http://127.0.0.1:8000 --key KEY

``DIR`` holds a copy of shop.py (the demo writes it there): the shop's frames then come from an
application folder, as a user's would, and not from an installed package, so profiles and analyses
treat them as application code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import uvicorn
from pystrument.adapters.asgi import PerformanceMiddleware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-dir", required=True, help="the folder holding the demo's copy of shop.py")
    parser.add_argument("--version", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the pystrument server's URL")
    parser.add_argument("--key", required=True, help="the demo project's key")
    args = parser.parse_args()
    sys.path.insert(0, args.app_dir)
    create_shop = importlib.import_module("shop").create_shop
    app = PerformanceMiddleware(create_shop(args.version), config={
        "project_key": args.key, "api_endpoint": args.api, "app_name": "demo-shop", "app_version": args.version,
        "environment": "demo", "flush_interval": 0.5, "batch_size": 100, "max_queue_size": 5000,
        # a demo shows every request it sends in detail: no overhead budget (the production default, 3% of the
        # process's CPU, profiles only a share of a busy app's requests)
        "max_overhead_pct": 100,
    })
    # the adapter delivers what is queued at lifespan shutdown: uvicorn re-raises SIGTERM after it,
    # so exit handlers do not run
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")



if __name__ == "__main__":
    main()
