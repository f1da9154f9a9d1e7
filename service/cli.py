"""The `ftmatrix` command line: check training configs (offline or against a server, as a CI
step), serve the HTTP API, migrate the database, manage API keys, export the data snapshot and
the OpenAPI document."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.config import Settings

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

# Every command imports this module, `check` included, which CI runs like a linter on each
# commit: so only the standard library is imported here. pydantic-settings, httpx and the
# rest cost ~300 ms at start-up and are imported by the commands that need them.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def get_settings() -> Settings:
    """The service's settings (service.config.get_settings, imported on first use)."""
    from service.config import get_settings as settings

    return settings()


def openapi_document() -> str:
    """The OpenAPI document as committed: sorted keys, two-space indent, trailing newline."""
    from service.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.web.logs import log_config

    settings = get_settings()
    made = None
    if settings.metrics_dir is None:
        # The workers add up each other's metrics through files in one directory (see
        # service.web.metrics); they inherit its name from this process's environment.
        made = tempfile.mkdtemp(prefix="ftmatrix-metrics-")
        os.environ["FTM_METRICS_DIR"] = made
    try:
        _run_uvicorn(uvicorn, args, settings, log_config)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return EXIT_OK


def _run_uvicorn(uvicorn: Any, args: argparse.Namespace, settings: Any, log_config: Any) -> None:
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # X-Forwarded-For is believed only from FTM_TRUSTED_PROXIES (none by default): else any
        # client could set the address the audit log records.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.limit_concurrency,
        # On SIGTERM stop accepting, finish the requests in flight (up to 30 s), then exit.
        timeout_graceful_shutdown=30,
        log_config=log_config(settings.log_level),
        access_log=False,
    )


def _db(args: argparse.Namespace) -> int:
    from service import db as migrate

    url = get_settings().database_url
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    else:
        migrate.downgrade(url, args.revision)
    return EXIT_OK


def _keys(args: argparse.Namespace) -> int:
    if args.keys_command == "generate":  # needs no database
        from service import keys as key_module

        print(key_module.generate_key())
        return EXIT_OK
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from service import keys
    from service.config import Settings
    from service.db import create_db_engine, session_scope
    from service.errors import ProblemError
    from service.web.guard import database_unavailable

    url = get_settings().database_url
    parsed = make_url(url)
    upgrade = f"run `ftmatrix db upgrade` (FTM_DATABASE_URL={parsed.render_as_string()})"
    database = parsed.database or ""
    file_backed = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if file_backed and not Path(database).is_file():  # and create no empty folder for it
        print(f"ftmatrix: no database at {database}; {upgrade}", file=sys.stderr)
        return EXIT_USAGE
    engine = create_db_engine(Settings(database_url=url))
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
    except DBAPIError as exc:
        kind = database_unavailable(exc) or "unreachable"
        what = "has no schema yet" if kind == "unmigrated" else "does not answer"
        print(f"ftmatrix: the database {what}; {upgrade}", file=sys.stderr)
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
    import httpx

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


def _check(args: argparse.Namespace) -> int:
    """`ftmatrix check`: service.compat.gate does the work; this only wires the process."""
    from service.compat.gate import CheckOptions, run_check
    from service.compat.modelchecks import Placement

    server = None if args.offline else (args.server or os.environ.get("FTM_SERVER"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")  # set by GitHub Actions in every step
    options = CheckOptions(
        files=args.files,
        scenarios=args.scenario,
        server=server,
        api_key=os.environ.get("FTM_API_KEY"),
        snapshot=Path(args.snapshot) if args.snapshot else SNAPSHOT,
        fmt=args.format,
        fail_on=args.fail_on,
        root=Path(args.root) if args.root else None,
        allow_outside_root=args.allow_outside_root,
        strict=args.strict,
        max_file_size=args.max_file_size,
        step_summary=Path(summary) if summary else None,
        placement=Placement(args.model, args.offering, args.gpu, args.gpus),
    )
    try:
        result = run_check(options)
    except KeyboardInterrupt:
        print("ftmatrix: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: CI logs still get one line and exit 2, never a traceback
        print(f"ftmatrix: internal error ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_USAGE
    try:
        # Flushed before the error lines, so that a log of both streams shows them after it.
        sys.stdout.write(result.output)
        sys.stdout.flush()
    except BrokenPipeError:  # `ftmatrix check ... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    for line in (*result.errors, *result.warnings):
        print(f"ftmatrix: {line}", file=sys.stderr)
    return result.exit_code


def _file_size(text: str) -> int:
    """argparse type of --max-file-size: `5MiB`, `512KiB` or bytes."""
    from service.detect.files import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


METHODS = ["full", "lora", "dora", "qlora"]
QUANT_TYPES = ["nf4", "fp4"]
PRECISIONS = ["fp32", "fp16-mixed", "bf16-mixed", "bf16"]
OPTIMIZERS = ["adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "adafactor"]
OFFLOAD_DEVICES = ["none", "cpu", "nvme"]
FSDP_STRATEGIES = ["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2"]
PROFILES = ["ftmatrix", "zero-paper", "deepspeed", "accelerate"]


def _estimate(args: argparse.Namespace) -> int:
    """`ftmatrix estimate`: service.estimates.command does the work."""
    from service.estimates.command import run

    return run(args)


def _add_estimate(sub: Any) -> None:
    """The `estimate` sub-command. Its choices are the estimator's spellings, written out so
    that building the parser imports no estimator module (tests/estimates/test_cli.py checks
    them against the enums)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "estimate",
        help="estimate the GPU memory of a fine-tuning job (offline; exit 2 on bad input)",
        description="Estimate memory per GPU by component, offline from the data snapshot: a "
        "catalog model (--model) or --params and/or a shape (--layers ...).",
    )
    model = p.add_argument_group("model")
    model.add_argument("--model", help="catalog model id or alias (its shape is used)")
    model.add_argument("--params", type=int, help="total parameters")
    for flag in ("layers", "hidden", "heads", "kv-heads", "intermediate", "vocab", "head-dim"):
        model.add_argument(f"--{flag}", type=int, help=f"shape: {flag}")
    model.add_argument("--tied-embeddings", action="store_true", help="shape: tied embeddings")
    model.add_argument("--no-gated-mlp", action="store_true", help="shape: GPT-style MLP")
    model.add_argument("--qkv-bias", action="store_true", help="shape: q/k/v biases (Qwen2)")
    tech = p.add_argument_group("technique")
    tech.add_argument("--method", default="full", choices=METHODS)
    tech.add_argument("--lora-rank", type=int, help="LoRA rank r (default 8)")
    tech.add_argument("--lora-targets", help="comma-separated modules, or all-linear")
    tech.add_argument("--bits", type=int, choices=[4, 8], help="quantized base (qlora, dora)")
    tech.add_argument("--quant-type", choices=QUANT_TYPES)
    tech.add_argument("--no-double-quant", action="store_true")
    num = p.add_argument_group("numerics")
    num.add_argument("--precision", default="bf16-mixed", choices=PRECISIONS)
    num.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    par = p.add_argument_group("parallelism")
    par.add_argument("--gpus", type=int, help="total GPUs")
    par.add_argument("--nodes", type=int, default=1)
    par.add_argument("--gpus-per-node", type=int)
    par.add_argument("--zero-stage", type=int, default=0, choices=[0, 1, 2, 3])
    par.add_argument("--offload-optimizer", default="none", choices=OFFLOAD_DEVICES)
    par.add_argument("--offload-params", default="none", choices=OFFLOAD_DEVICES)
    par.add_argument("--fsdp", choices=FSDP_STRATEGIES)
    par.add_argument("--tensor-parallel", type=int, default=1)
    act = p.add_argument_group("activations (counted when --seq-len is given)")
    act.add_argument("--seq-len", type=int)
    act.add_argument("--micro-batch", type=int, default=1)
    act.add_argument("--gradient-checkpointing", action="store_true")
    act.add_argument("--flash-attention", action="store_true")
    p.add_argument("--profile", default="ftmatrix", choices=PROFILES)
    p.add_argument("--gpu", action="append", default=[], help="hardware id to fit (repeatable)")
    p.add_argument("--format", default="text", choices=["text", "json", "svg"])
    p.add_argument("--snapshot", default=str(SNAPSHOT), help="data snapshot (default: shipped)")
    p.set_defaults(handler=_estimate)


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
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Detect the techniques, settings and pins in FILEs (Axolotl,\n"
        "LLaMA-Factory, Accelerate and torchtune YAML; DeepSpeed JSON; PEFT\n"
        "adapter_config.json; requirements files and pyproject.toml) and check that\n"
        "they combine: offline against the shipped data snapshot, or on a server.\n\n"
        "References are followed as the training tools follow them: `deepspeed:` and\n"
        "`deepspeed_config_file` from --root (where the tool runs) first, then beside\n"
        "the config; requirements -r/-c includes beside the including file. Only\n"
        "regular files up to --max-file-size are read.",
        epilog="exit status:\n"
        "  0  nothing at or above --fail-on (files that are not training configs are\n"
        "     skipped; a config with no technique to check passes with a note)\n"
        "  1  a finding at or above --fail-on\n"
        "  2  a usage error; a file that cannot be used (missing, not a regular file,\n"
        "     too large, invalid syntax or values: one line each on stderr, after the\n"
        "     report of the other files); or a check that could not run (unknown\n"
        "     scenario, unusable snapshot, server error)",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="config files to check")
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
    check.add_argument(
        "--root",
        metavar="DIR",
        help="where the training tool runs: references are looked up here first, and"
        " referenced files outside it are not read (default: the current directory)",
    )
    check.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="also read referenced files outside --root (only for configs you trust)",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="a FILE that is not a training config is an error (exit 2), not skipped",
    )
    check.add_argument(
        "--max-file-size",
        metavar="SIZE",
        type=_file_size,
        default="5MiB",
        help="refuse larger files, e.g. 512KiB, 5MiB or a number of bytes (default: 5MiB)",
    )
    check.add_argument(
        "--gpu",
        metavar="HARDWARE",
        help="hardware id the job runs on (e.g. h100-80gb): checks that it fits (FTM401-403)",
    )
    check.add_argument("--gpus", type=int, metavar="N", help="GPUs (default: the config's, else 1)")
    check.add_argument("--offering", help="offering or platform the job runs on (e.g. kaito)")
    check.add_argument("--model", help="base model (default: the one the configs name)")
    check.set_defaults(handler=_check)
    _add_estimate(sub)

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
    except Exception as exc:
        if not _report_settings_error(exc):
            raise
        return 2


def _report_settings_error(exc: Exception) -> bool:
    """Print an invalid FTM_ setting as one line per problem; False for any other error.

    pydantic is imported only here, once something has failed, to keep start-up light.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        for error in exc.errors():
            print(f"ftmatrix: {_setting_name(error['loc'])}: {error['msg']}", file=sys.stderr)
        return True
    if isinstance(exc, SettingsError):  # a list or dict setting that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"FTM_{found[1].upper()}" if found else "settings"
        example = '["https://dash.example"]'
        print(f"ftmatrix: {name}: not valid JSON (e.g. {example})", file=sys.stderr)
        return True
    return False


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """`FTM_CORS_ORIGINS[0]` for the location ("cors_origins", 0) of a settings error."""
    name = "FTM_" + str(loc[0]).upper()
    return name + "".join(f"[{part}]" for part in loc[1:])


if __name__ == "__main__":
    sys.exit(main())
