"""FSDP settings, as the Hugging Face Trainer, Axolotl and Accelerate spell them.

Two shapes occur. The Trainer's `fsdp` option list (`fsdp: [full_shard, auto_wrap]`, or the
string `"full_shard auto_wrap"`), which Axolotl and LLaMA-Factory pass through: the options
are transformers' `FSDPOption` values. And an `fsdp_config` mapping, whose keys Accelerate
writes with an `fsdp_` prefix (`fsdp_sharding_strategy`) and Axolotl and the Trainer also
accept without it (`sharding_strategy`). Sharding strategies are torch's `ShardingStrategy`
names, or their 1-based numbers as older `accelerate config` wrote them; FSDP2 replaces the
strategy by `reshard_after_forward` (true: as FULL_SHARD, false: as SHARD_GRAD_OP, per
Accelerate's "FSDP1 vs FSDP2" guide).
"""

from __future__ import annotations

from service.detect.document import Document, KeyPath, dotted
from service.detect.plan import Plan
from service.detect.values import boolean, invalid, record

STRATEGIES = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "HYBRID_SHARD_ZERO2")
"""torch's ShardingStrategy names, in the order of their numbers (1-5)."""

_OPTIONS: dict[str, str | None] = {
    "full_shard": "FULL_SHARD",
    "shard_grad_op": "SHARD_GRAD_OP",
    "no_shard": "NO_SHARD",
    "hybrid_shard": "HYBRID_SHARD",
    "hybrid_shard_zero2": "HYBRID_SHARD_ZERO2",
    "offload": None,
    "auto_wrap": None,
}


def fsdp_options(plan: Plan, doc: Document, path: KeyPath) -> str | None:
    """Read a Trainer-style `fsdp` entry; the evidence for FSDP when it turns FSDP on, else None.

    A list or space-separated string of `FSDPOption` values turns FSDP on (and gives the
    sharding strategy and, with `offload`, parameter offload); `true` turns it on with the
    Trainer's defaults; null, false, "" and [] leave it off. Raises DetectError for an option
    transformers does not know.
    """
    value = doc.get(path)
    if value is None or value is False or value in ("", []):
        return None
    if value is True:
        return f"{dotted(path)}: true"
    if isinstance(value, str):
        options = value.split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        options = [item.strip() for item in value]
    else:
        raise invalid(doc, path, f"{value!r} is not a list of FSDP options")
    for option in options:
        if option.lower() not in _OPTIONS:
            known = ", ".join(_OPTIONS)
            raise invalid(doc, path, f"{option!r} is not an FSDP option ({known})")
        strategy = _OPTIONS[option.lower()]
        record(plan, doc, "fsdp.sharding_strategy", path, strategy)
        if option.lower() == "offload":
            record(plan, doc, "fsdp.offload_params", path, True)
    return f"{dotted(path)}: [{', '.join(options)}]"


def fsdp_config(plan: Plan, doc: Document, path: KeyPath) -> None:
    """Record the settings of an `fsdp_config` mapping at `path` (keys with or without `fsdp_`).

    Reads the version (1 or 2), the sharding strategy (or FSDP2's `reshard_after_forward`),
    parameter offload, `cpu_ram_efficient_loading`, `use_orig_params` and activation
    checkpointing. Raises DetectError for a value none of the tools accepts.
    """
    if not isinstance(doc.get(path), dict):
        return

    def key(name: str) -> KeyPath:
        prefixed = (*path, f"fsdp_{name}")
        return prefixed if doc.has(prefixed) else (*path, name)

    version_key = key("version")
    record(plan, doc, "fsdp.version", version_key, fsdp_version(doc, version_key))
    strategy_key = key("sharding_strategy")
    record(plan, doc, "fsdp.sharding_strategy", strategy_key, strategy(doc, strategy_key))
    reshard_key = key("reshard_after_forward")
    record(plan, doc, "fsdp.sharding_strategy", reshard_key, reshard(doc, reshard_key))
    for name, setting in (
        ("offload_params", "fsdp.offload_params"),
        ("cpu_ram_efficient_loading", "fsdp.cpu_ram_efficient_loading"),
        ("use_orig_params", "fsdp.use_orig_params"),
        ("activation_checkpointing", "train.gradient_checkpointing"),
    ):
        record(plan, doc, setting, key(name), boolean(doc, key(name)))


def fsdp_version(doc: Document, path: KeyPath) -> int | None:
    """The FSDP version at `path` (1 or 2); None when absent. Raises DetectError otherwise."""
    value = doc.get(path)
    if value is None:
        return None
    if isinstance(value, str) and value.strip() in ("1", "2"):
        return int(value)
    if value in (1, 2) and not isinstance(value, bool):
        return int(value)
    raise invalid(doc, path, f"{value!r} is not an FSDP version (1 or 2)")


def strategy(doc: Document, path: KeyPath) -> str | None:
    """The sharding strategy at `path`, as a ShardingStrategy name; None when absent."""
    value = doc.get(path)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(STRATEGIES):
        return STRATEGIES[value - 1]
    if isinstance(value, str):
        name = value.strip().upper().removeprefix("_")
        if name in STRATEGIES:
            return name
    known = ", ".join(STRATEGIES)
    raise invalid(doc, path, f"{value!r} is not a sharding strategy ({known}, or 1-5)")


def reshard(doc: Document, path: KeyPath) -> str | None:
    """The sharding strategy `reshard_after_forward` stands for; None when absent."""
    value = doc.get(path)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() not in ("true", "false"):
        # Newer Accelerate also accepts a strategy name here, for FSDP1.
        return strategy(doc, path)
    return "FULL_SHARD" if boolean(doc, path) else "SHARD_GRAD_OP"
