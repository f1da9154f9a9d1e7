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


def _keys(args: argparse.Namespace) -> int:
    from service import auth
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.errors import ProblemError

    engine = create_db_engine(Settings(database_url=get_settings().database_url))
    try:
        with session_scope(engine, write=args.keys_command != "list") as session:
            conn = session.connection()
            if args.keys_command == "create":
                # The secret alone on stdout, so that KEY=$(ftmatrix keys create ...) works.
                print(auth.create_key(conn, args.name, args.scope, args.expires))
            elif args.keys_command == "revoke":
                info = auth.revoke_key(conn, args.name)
                print(f"revoked {info.name} ({info.scope})", file=sys.stderr)
            else:
                for key in auth.list_keys(conn):
                    state = "revoked" if key.revoked_at else "active"
                    expires = key.expires_at.isoformat() if key.expires_at else "never"
                    print(f"{key.name}\t{key.scope}\t{state}\texpires={expires}\tid={key.key_id}")
    except ProblemError as exc:
        print(f"ftmatrix: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
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

    keys = sub.add_parser("keys", help="manage API keys in the database (FTM_DATABASE_URL)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints the secret, once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=["read", "write", "admin"])
    create.add_argument("--expires", type=int, metavar="DAYS", help="expire after DAYS days")
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    keys.set_defaults(handler=_keys)

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
