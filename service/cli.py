"""The `ftmatrix` command line: serve, migrate, export the OpenAPI document."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_settings import SettingsError

from service.config import PROJECT_ROOT, get_settings
from service.detect.plan import Location, Plan

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def openapi_document() -> str:
    """The OpenAPI document as committed: sorted keys, two-space indent, trailing newline."""
    from service.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.web.logs import log_config

    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        # On SIGTERM stop accepting, finish the requests in flight (up to 30 s), then exit.
        timeout_graceful_shutdown=30,
        log_config=log_config(get_settings().log_level),
        access_log=False,
    )
    return EXIT_OK


def _db(args: argparse.Namespace) -> int:
    from service import db as migrate

    url = get_settings().database_url
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    else:
        migrate.downgrade(url, args.revision)
    return EXIT_OK


def _keys(args: argparse.Namespace) -> int:
    from service import keys
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.errors import ProblemError

    engine = create_db_engine(Settings(database_url=get_settings().database_url))
    try:
        with session_scope(engine, write=args.keys_command != "list") as session:
            conn = session.connection()
            if args.keys_command == "generate":
                print(keys.generate_key())
            elif args.keys_command == "create":
                # The secret alone on stdout, so that KEY=$(ftmatrix keys create ...) works.
                print(keys.create_key(conn, args.name, args.scope, args.expires))
            elif args.keys_command == "revoke":
                info = keys.revoke_key(conn, args.name)
                print(f"revoked {info.name} ({info.scope})", file=sys.stderr)
            else:
                for key in keys.list_keys(conn):
                    state = "revoked" if key.revoked_at else "active"
                    expires = key.expires_at.isoformat() if key.expires_at else "never"
                    print(f"{key.name}\t{key.scope}\t{state}\texpires={expires}\tid={key.key_id}")
    except ProblemError as exc:
        print(f"ftmatrix: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    return EXIT_OK


SNAPSHOT = Path(__file__).resolve().parent / "data" / "snapshot.json"


def _export_from_database() -> dict[str, Any]:
    from service.compat.service import export_document
    from service.config import Settings
    from service.db import create_db_engine
    from service.snapshot import SnapshotStore

    engine = create_db_engine(Settings(database_url=get_settings().database_url))
    try:
        return export_document(SnapshotStore(engine).current())
    finally:
        engine.dispose()


def _export(args: argparse.Namespace) -> int:
    from service.client import ApiError, Client

    try:
        if args.server:
            with Client(args.server, api_key=os.environ.get("FTM_API_KEY")) as api:
                doc = api.export()
        else:
            doc = _export_from_database()
    except (ApiError, httpx.HTTPError) as exc:
        print(f"ftmatrix: cannot export from {args.server}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return EXIT_OK


def _plan_body(plan: Plan) -> dict[str, Any]:
    """The POST /v1/checks body of a detected plan, locations included."""

    def where(location: Location | None) -> dict[str, Any]:
        if location is None:
            return {}
        return {"file": location.file, "line": location.line, "key": location.key}

    return {
        "techniques": [{"id": t.id, **where(t.location)} for t in plan.techniques],
        "scenarios": list(plan.scenarios),
        "libraries": {
            name: {"version": lib.version, **where(lib.location)}
            for name, lib in plan.libraries.items()
        },
    }


def _check(args: argparse.Namespace) -> int:
    from service.client import ApiError, Client
    from service.compat import document, output, rules
    from service.detect import DetectError, detect_files

    try:
        plan = detect_files([Path(f) for f in args.files])
    except DetectError as exc:
        print(f"ftmatrix: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not plan.techniques:
        print(
            f"ftmatrix: no fine-tuning technique found in {', '.join(args.files)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    server = None if args.offline else (args.server or os.environ.get("FTM_SERVER"))
    try:
        if server:
            plan.scenarios.extend(args.scenario)
            with Client(server, api_key=os.environ.get("FTM_API_KEY")) as api:
                report = api.check(_plan_body(plan))
            source = server
        else:
            path = Path(args.snapshot) if args.snapshot else SNAPSHOT
            catalog = document.load(json.loads(path.read_text(encoding="utf-8")))
            for value in args.scenario:
                found = catalog.scenario(value)
                if found is None:
                    guess = catalog.closest_scenario(value)
                    hint = f"; did you mean {guess!r}?" if guess else ""
                    print(f"ftmatrix: unknown scenario {value!r}{hint}", file=sys.stderr)
                    return EXIT_USAGE
                plan.scenarios.append(found)
            unknown = catalog.knowledge.unknown_techniques(t.id for t in plan.techniques)
            if unknown:
                print(
                    f"ftmatrix: the snapshot {path} does not know {', '.join(unknown)}; "
                    "export a newer one",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            report = rules.check_plan(catalog.knowledge, plan)
            source = f"offline snapshot {path.name}"
    except ApiError as exc:
        print(f"ftmatrix: the server refused the plan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (httpx.HTTPError, OSError, ValueError) as exc:
        print(f"ftmatrix: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(
        output.render(report, args.format, files=args.files, source=source, fail_on=args.fail_on)
    )
    return EXIT_FINDINGS if rules.fail_on(report, args.fail_on) else EXIT_OK


def _bootstrap(args: argparse.Namespace) -> int:
    """Migrate, then install the admin key given in FTM_ADMIN_KEY (containers run this)."""
    from service import db as migrate
    from service import keys
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.errors import ProblemError

    url = get_settings().database_url
    migrate.upgrade(url)
    key = os.environ.get("FTM_ADMIN_KEY")
    if not key:
        print("ftmatrix: FTM_ADMIN_KEY is not set; no admin key installed", file=sys.stderr)
        return EXIT_OK
    name = os.environ.get("FTM_ADMIN_KEY_NAME", "admin")
    engine = create_db_engine(Settings(database_url=url))
    try:
        with session_scope(engine, write=True) as session:
            added = keys.install_key(session.connection(), name, "admin", key)
    except ProblemError as exc:
        print(f"ftmatrix: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    state = "installed" if added else "already present"
    print(f"ftmatrix: admin key {name!r} {state}", file=sys.stderr)
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

    bootstrap = sub.add_parser(
        "bootstrap",
        help="migrate, then install the admin key in FTM_ADMIN_KEY (name: FTM_ADMIN_KEY_NAME)",
    )
    bootstrap.set_defaults(handler=_bootstrap)

    keys = sub.add_parser("keys", help="manage API keys in the database (FTM_DATABASE_URL)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints the secret, once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", required=True, choices=["read", "write", "admin"])
    create.add_argument("--expires", type=int, metavar="DAYS", help="expire after DAYS days")
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    keys_sub.add_parser(
        "generate", help="print a new random key without storing it (for FTM_ADMIN_KEY)"
    )
    revoke = keys_sub.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    keys.set_defaults(handler=_keys)

    check = sub.add_parser(
        "check",
        help="check training configs for techniques that do not combine (exit 1 on findings)",
        description="Detect techniques and pins in FILEs (Axolotl or LLaMA-Factory YAML, "
        "DeepSpeed JSON, PEFT adapter_config.json, requirements.txt / pip freeze) and check "
        "them. Exit 0: nothing at or above --fail-on; 1: something is; 2: usage or file error.",
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument(
        "--scenario", action="append", default=[], help="what the job is for (repeatable)"
    )
    where = check.add_mutually_exclusive_group()
    where.add_argument("--server", help="ftmatrix URL (default: $FTM_SERVER, else offline)")
    where.add_argument("--offline", action="store_true", help="use a data snapshot, no server")
    check.add_argument("--snapshot", help="snapshot file for --offline (default: the shipped one)")
    check.add_argument(
        "--format", default="text", choices=["text", "json", "github", "junit", "sarif"]
    )
    check.add_argument("--fail-on", default="warn", choices=["warn", "fail"])
    check.set_defaults(handler=_check)

    export = sub.add_parser("export", help="write the data snapshot that `check --offline` reads")
    export.add_argument("--server", help="ftmatrix URL (default: the database, FTM_DATABASE_URL)")
    export.add_argument("--output", default="-", help="file or - (default)")
    export.set_defaults(handler=_export)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument(
        "--output", default=str(PROJECT_ROOT / "openapi" / "openapi.json"), help="file or -"
    )
    openapi.set_defaults(handler=_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ftmatrix` console script (argparse exits 2 on a usage error)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "snapshot", None) and getattr(args, "server", None):
        build_parser().error("--snapshot goes with --offline, not --server")
    handler: Any = args.handler
    try:
        return int(handler(args))
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        for error in exc.errors():
            print(f"ftmatrix: {_setting_name(error['loc'])}: {error['msg']}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a list or dict setting that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"FTM_{found[1].upper()}" if found else "settings"
        example = '["https://dash.example"]'
        print(f"ftmatrix: {name}: not valid JSON (e.g. {example})", file=sys.stderr)
        return 2


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """`FTM_CORS_ORIGINS[0]` for the location ("cors_origins", 0) of a settings error."""
    name = "FTM_" + str(loc[0]).upper()
    return name + "".join(f"[{part}]" for part in loc[1:])


if __name__ == "__main__":
    sys.exit(main())
