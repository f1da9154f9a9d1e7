"""`ftmatrix estimate`: the memory estimate offline, from the shipped snapshot's models and
hardware, as a table, the JSON of `POST /v1/estimates`, or its SVG.

The flags (`service.cli`, which lists the accepted spellings without importing the estimator)
build the same `EstimateRequest` the API takes and the same service functions answer
it, so the CLI and the API agree figure for figure. Bad input is one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE = 0, 2


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The `POST /v1/estimates` body the flags stand for."""
    body: dict[str, Any] = {"profile": args.profile, "hardware": list(args.gpu)}
    if args.model:
        body["model"] = args.model
    if args.params is not None:
        body["params"] = args.params
    shape = {
        name: getattr(args, name)
        for name in ("layers", "hidden", "heads", "kv_heads", "intermediate", "vocab", "head_dim")
        if getattr(args, name) is not None
    }
    if shape:
        body["shape"] = shape | {
            "tied_embeddings": args.tied_embeddings,
            "gated_mlp": not args.no_gated_mlp,
            "qkv_bias": args.qkv_bias,
        }
    technique: dict[str, Any] = {"method": args.method}
    if args.lora_rank is not None or args.lora_targets:
        lora: dict[str, Any] = {}
        if args.lora_rank is not None:
            lora["rank"] = args.lora_rank
        if args.lora_targets:
            lora["targets"] = [t.strip() for t in args.lora_targets.split(",") if t.strip()]
        technique["lora"] = lora
    if args.bits is not None or args.quant_type or args.no_double_quant:
        quant: dict[str, Any] = {"bits": args.bits or 4}
        if args.quant_type:
            quant["type"] = args.quant_type
        if args.no_double_quant:
            quant["double_quant"] = False
        technique["quantization"] = quant
    body["technique"] = technique
    body["numerics"] = {"precision": args.precision, "optimizer": args.optimizer}
    body["parallelism"] = {
        "gpus": args.gpus,
        "nodes": args.nodes,
        "gpus_per_node": args.gpus_per_node,
        "zero_stage": args.zero_stage,
        "offload": {"optimizer": args.offload_optimizer, "params": args.offload_params},
        "fsdp": args.fsdp,
        "tensor_parallel": args.tensor_parallel,
    }
    if args.seq_len is not None:
        body["activations"] = {
            "seq_len": args.seq_len,
            "micro_batch": args.micro_batch,
            "gradient_checkpointing": args.gradient_checkpointing,
            "flash_attention": args.flash_attention,
        }
    return body


def run(args: argparse.Namespace) -> int:
    """Print the estimate the flags ask for; one line on stderr and exit 2 on bad input."""
    import sys

    from pydantic import ValidationError

    from service.errors import ProblemError
    from service.estimates import schemas as s
    from service.estimates import service

    try:
        document = json.loads(Path(args.snapshot).read_bytes())
        data = service.Records.from_document(document if isinstance(document, dict) else {})
    except (OSError, ValueError) as exc:
        print(f"ftmatrix: cannot read the snapshot {args.snapshot}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        body = s.EstimateRequest.model_validate(request_body(args))
        if args.format == "svg":
            sys.stdout.write(service.picture(data, body))
            return EXIT_OK
        answer = service.answer(data, body)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "input"
        print(f"ftmatrix: {where}: {error['msg']}", file=sys.stderr)
        return EXIT_USAGE
    except ProblemError as exc:
        allowed = exc.extra.get("allowed")
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        print(f"ftmatrix: {exc.detail}{hint}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(table(answer))
    return EXIT_OK


def table(answer: Any) -> str:
    """The human table of an `EstimateAnswer`: components per GPU, CPU, params, the fits."""
    unit = answer.unit

    def size(n: int) -> str:
        return f"{n / unit.bytes:,.2f} {unit.symbol}"

    who = answer.model or "the model"
    lines = [
        f"Estimate for {who}, {answer.profile.value} profile, {answer.gpus} GPU(s) on "
        f"{answer.nodes} node(s) (data revision {answer.revision}):",
        "",
        f"  {'per GPU':<22}{'':>4}{unit.symbol:>14}",
    ]
    gpu = answer.per_gpu
    for label, n in (
        ("weights", gpu.weights),
        ("gradients", gpu.gradients),
        ("optimizer states", gpu.optimizer_states),
        ("activations", gpu.activations),
        ("quantization", gpu.quantization),
        ("other", gpu.other),
        ("model states", gpu.model_states),
        ("total", gpu.total),
    ):
        lines.append(f"  {label:<22}{size(n):>18}")
    lines.append(f"  {'CPU per node':<22}{size(answer.cpu.per_node):>18}")
    if answer.nvme.per_node:
        lines.append(f"  {'NVMe per node':<22}{size(answer.nvme.per_node):>18}")
    params = answer.params
    lines += [
        "",
        f"  parameters {params.total:,}, trainable {params.trainable:,} "
        f"({params.trainable_share:.4%})",
    ]
    for fit in answer.fits:
        if fit.fits is None:
            lines.append(f"  {fit.hardware}: memory not in the data, fit not judged")
        else:
            verdict = "fits" if fit.fits else "does NOT fit"
            room = "headroom" if fit.fits else "short by"
            lines.append(
                f"  {fit.hardware} ({size(fit.memory_bytes)}): {verdict}, "
                f"{room} {size(abs(fit.headroom_bytes))}"
            )
    lines += ["", "Assumptions:"]
    lines += [f"  - {a.text}" for a in answer.assumptions]
    lines += ["", "Sources:"]
    lines += [f"  - {source}" for source in answer.sources]
    return "\n".join(lines) + "\n"
