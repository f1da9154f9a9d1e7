"""The service with its fast path turned off: every request takes the app's own read path.

`bench/run.py` measures a cache miss ("the app's own read path") by serving every request
this way; the benchmark runs it in place of `ftmatrix serve`, with the same uvicorn options:

    PYTHONPATH=. python -m bench.app_path --host 127.0.0.1 --port 8000

`service.web.fastpath.FastReads` stays in front of the app, as it is in production, but with
`enabled = False` it answers nothing from prepared bytes: reads go through FastAPI's routing,
middleware, the key check, the snapshot and serialization on every request. Nothing here
changes the service; a service without that switch is a clear error, not a silent fast run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastapi import FastAPI


def create_app() -> FastAPI:
    """The service's app (`service.app.create_app`), its fast path disabled."""
    from service.app import create_app as service_app

    app = service_app()
    fast = getattr(app, "fast", None)
    if fast is None or not hasattr(fast, "enabled"):
        raise RuntimeError(
            "bench.app_path: the service's app has no `fast` layer with an `enabled` switch; "
            "the benchmark cannot turn its fast path off"
        )
    fast.enabled = False
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    import uvicorn

    from service.config import get_settings
    from service.web.logs import log_config

    settings = get_settings()
    # The options of `ftmatrix serve` (service/cli.py), one worker.
    uvicorn.run(
        "bench.app_path:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=30,
        log_config=log_config(settings.log_level),
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
