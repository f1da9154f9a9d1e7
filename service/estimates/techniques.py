"""Catalog techniques as the estimator counts them: the one table from a technique id to an
estimator configuration.

The catalog names techniques (`lora`, `zero-3`, `deepspeed` ...); the estimator counts a
method (full, lora, dora, qlora) under a ZeRO stage or FSDP strategy with some offload. This
module holds the mapping between the two, once:

- `ZERO_STAGES`, `ADAPTER_METHODS` and `DEFAULT_FSDP`: what a technique id itself says about
  the stage, the adapter method and the FSDP strategy. `service.compat.fit` reads a detected
  plan with these, so a plan and a recommendation count the same technique the same way.
- `CONFIGURATIONS`: every catalog technique the estimator can count, on its own (what
  `GET /v1/recommendations` estimates), with the choices the technique leaves open and this
  table makes for it stated as assumptions (`Configuration.assumed`).
- `NOT_COUNTED`: techniques the estimator cannot count, with the reason. Any other id (a
  technique added to the catalog later) is not counted either: `configuration` says so.

| technique      | counted as                                                           |
|----------------|----------------------------------------------------------------------|
| lora           | LoRA, r = 8 on q_proj and v_proj (assumed: PEFT's defaults)          |
| qlora          | LoRA on a 4-bit NF4 base with double quantization                    |
| dora           | DoRA, r = 8 on q_proj and v_proj (assumed)                           |
| peft           | LoRA as above (assumed: PEFT is a library of methods)                |
| zero-1/2/3     | full fine-tuning at that ZeRO stage                                  |
| zero-offload   | full, ZeRO stage 2, optimizer offloaded to CPU (assumed stage)       |
| zero-infinity  | full, ZeRO stage 3, optimizer and parameters on NVMe (assumed device) |
| zero           | full, ZeRO stage 3 (assumed stage)                                   |
| deepspeed      | full, ZeRO stage 3 (assumed stage)                                   |
| fsdp           | full, FSDP FULL_SHARD (assumed: torch's default strategy)            |
| zero-plus-plus | not counted (no formula for hpZ's secondary weight partition)        |

Pure: the standard library and the estimator core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from service.estimates.choices import FsdpStrategy, Method, OffloadDevice
from service.estimates.inputs import LoraSpec, Offload, Parallelism, Quantization, Technique
from service.estimates.sources import DEEPSPEED_CONFIG, FTMATRIX, QLORA, TORCH_FSDP

ZERO_STAGES: Mapping[str, int] = MappingProxyType({
    "zero-1": 1, "zero-2": 2, "zero-3": 3, "zero-offload": 2, "zero-infinity": 3,
})  # fmt: skip
"""Technique ids that name a ZeRO stage. ZeRO-Offload "originally offloaded optimizer and
gradient state within ZeRO-2"; ZeRO-Infinity is an offload engine "on top of ZeRO-3"
(shared/reference/finetune-facts.yaml, zero variants)."""

ADAPTER_METHODS: Mapping[str, Method] = MappingProxyType({
    "lora": Method.LORA, "peft": Method.LORA, "dora": Method.DORA, "qlora": Method.QLORA,
})  # fmt: skip
"""Technique ids that name an adapter method; PEFT, the library, is read as its LoRA."""

DEFAULT_FSDP = FsdpStrategy.FULL_SHARD
"""The FSDP strategy assumed when none is given: torch's default `sharding_strategy`."""

PEFT_DEFAULTS = LoraSpec()
"""The adapter counted when no rank or targets are given: r = 8 on q_proj and v_proj, PEFT's
`LoraConfig` default rank and its default targets for Llama-family models."""

_FACTS = "shared/reference/finetune-facts.yaml"
_ADAPTER = (
    f"no LoRA rank or targets given: r = {PEFT_DEFAULTS.rank} on "
    f"{', '.join(PEFT_DEFAULTS.targets)} counted (PEFT's LoraConfig defaults for Llama-family "
    "models)",
    "PEFT src/peft/tuners/lora/config.py (LoraConfig r = 8); src/peft/utils/constants.py "
    "(default target modules)",
)
_FULL = (
    "counted with full fine-tuning (every parameter trained): sharding applies to whatever is "
    "trained; POST /v1/estimates counts it with an adapter",
    FTMATRIX,
)


@dataclass(frozen=True, slots=True)
class Configuration:
    """How the estimator counts one catalog technique on its own."""

    technique: Technique
    zero_stage: int = 0
    fsdp: FsdpStrategy | None = None
    offload: Offload = field(default_factory=Offload)
    assumed: tuple[tuple[str, str], ...] = ()
    """The choices the technique leaves open that this table makes, each with the source of
    the facts it rests on (shown as assumptions)."""

    def parallelism(self, gpus: int) -> Parallelism:
        """The parallelism of this configuration on `gpus` GPUs (one node)."""
        return Parallelism(
            gpus=gpus, zero_stage=self.zero_stage, fsdp=self.fsdp, offload=self.offload
        )

    def describe(self, gpus: int) -> str:
        """The configuration in words, e.g. 'full fine-tuning, ZeRO stage 3, 8 GPUs'."""
        tech = self.technique
        parts = [_method_words(tech)]
        if self.fsdp is not None:
            parts.append(f"FSDP {self.fsdp.value}")
        elif self.zero_stage:
            parts.append(f"ZeRO stage {self.zero_stage}")
        offload = self.offload
        for what, device in (("optimizer", offload.optimizer), ("parameters", offload.params)):
            if device is not OffloadDevice.NONE:
                parts.append(f"{what} offloaded to {_DEVICES[device]}")
        parts.append(f"{gpus} GPU" + ("s" if gpus > 1 else ""))
        return ", ".join(parts)


_DEVICES = {OffloadDevice.CPU: "CPU", OffloadDevice.NVME: "NVMe"}
_NAMES = {Method.LORA: "LoRA", Method.DORA: "DoRA", Method.QLORA: "QLoRA"}


def _method_words(tech: Technique) -> str:
    adapter = tech.adapter
    if adapter is None:
        return "full fine-tuning"
    on = f"r = {adapter.rank} on {', '.join(adapter.targets)}"
    quant = tech.quantized
    if quant is None:
        return f"{_NAMES[tech.method]} ({on})"
    base = f"{quant.bits}-bit {quant.quant_type.value.upper()}" if quant.bits == 4 else "8-bit"
    double = ", double quantization" if quant.nested else ""
    return f"LoRA ({on}) on a {base} base{double}"


def _full(
    stage: int,
    *assumed: tuple[str, str],
    fsdp: FsdpStrategy | None = None,
    offload: Offload | None = None,
) -> Configuration:
    return Configuration(
        Technique(Method.FULL), stage, fsdp, offload or Offload(), (*assumed, _FULL)
    )


CONFIGURATIONS: Mapping[str, Configuration] = MappingProxyType({
    "lora": Configuration(Technique(Method.LORA, lora=PEFT_DEFAULTS), assumed=(_ADAPTER,)),
    "qlora": Configuration(
        Technique(Method.QLORA, lora=PEFT_DEFAULTS, quantization=Quantization()),
        assumed=(_ADAPTER, ("the base counted as 4-bit NF4 with double quantization, the "
                            "QLoRA paper's setting", QLORA)),
    ),
    "dora": Configuration(Technique(Method.DORA, lora=PEFT_DEFAULTS), assumed=(_ADAPTER,)),
    "peft": Configuration(
        Technique(Method.LORA, lora=PEFT_DEFAULTS),
        assumed=(("PEFT is a library of methods (LoRA, DoRA, prompt tuning, IA3 ...): "
                  "counted as its LoRA", _FACTS), _ADAPTER),
    ),
    "zero-1": _full(ZERO_STAGES["zero-1"]),
    "zero-2": _full(ZERO_STAGES["zero-2"]),
    "zero-3": _full(ZERO_STAGES["zero-3"]),
    "zero-offload": _full(
        ZERO_STAGES["zero-offload"],
        ("ZeRO-Offload counted as ZeRO stage 2 with the optimizer offloaded to CPU, its "
         "original form (DeepSpeed now allows CPU optimizer offload with stages 1, 2 and 3)",
         f"{_FACTS} (zero-offload); {DEEPSPEED_CONFIG}"),
        offload=Offload(optimizer=OffloadDevice.CPU),
    ),
    "zero-infinity": _full(
        ZERO_STAGES["zero-infinity"],
        ("ZeRO-Infinity offloads model states to CPU and/or NVMe: counted with the optimizer "
         "states and the parameters on NVMe", f"{_FACTS} (zero-infinity); {DEEPSPEED_CONFIG}"),
        offload=Offload(optimizer=OffloadDevice.NVME, params=OffloadDevice.NVME),
    ),
    "zero": _full(
        3,
        ("ZeRO in general counted at stage 3 (parameters, gradients and optimizer states "
         "sharded, no offload); zero-1 and zero-2 are the other stages", FTMATRIX),
    ),
    "deepspeed": _full(
        3,
        ("choosing DeepSpeed means choosing a ZeRO stage (0-3), and none is given: counted at "
         "ZeRO stage 3 without offload", f"{_FACTS} (deepspeed and zero)"),
    ),
    "fsdp": _full(
        0,
        (f"no FSDP sharding strategy given: {DEFAULT_FSDP.value} (torch's default) counted",
         TORCH_FSDP),
        fsdp=DEFAULT_FSDP,
    ),
})  # fmt: skip
"""Every catalog technique the estimator can count on its own, by technique id."""

NOT_COUNTED: Mapping[str, str] = MappingProxyType({
    "zero-plus-plus": (
        "the estimator has no formula for ZeRO++'s secondary intra-node weight partition "
        "(hpZ), so it gives no figure rather than a ZeRO-3 one"
    ),
})  # fmt: skip
"""Catalog techniques the estimator cannot count, and why."""


def configuration(technique_id: str) -> Configuration | str:
    """The configuration that counts `technique_id`, or the reason it cannot be counted."""
    found = CONFIGURATIONS.get(technique_id)
    if found is not None:
        return found
    return NOT_COUNTED.get(
        technique_id, f"the estimator has no configuration for technique {technique_id!r}"
    )
