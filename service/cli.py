"""The `ftmatrix` command line: serve, migrate, export the OpenAPI document."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.config import PROJECT_ROOT, get_settings

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def openapi_document() -> str:
    """The OpenAPI document as committed: sorted keys, two-space indent, trailing newline."""
    from service.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        timeout_graceful_shutdown=30,
    )
    return EXIT_OK


def _db(args: argparse.Namespace) -> int:
    from service import migrate

    url = get_settings().database_url
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    else:
        migrate.downgrade(url, args.revision)
    return EXIT_OK


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_document()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftmatrix", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    db = sub.add_parser("db", help="apply or revert database migrations (FTM_DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate to the newest schema and data")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision", nargs="?", default="base")
    db.set_defaults(handler=_db)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument(
        "--output", default=str(PROJECT_ROOT / "openapi" / "openapi.json"), help="file or -"
    )
    openapi.set_defaults(handler=_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ftmatrix` console script."""
    args = build_parser().parse_args(argv)
    handler: Any = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
