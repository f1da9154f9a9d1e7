"""The training plan: what a job uses, as declared or as detected from its config files.

Shared by `service.detect` (which builds plans from files) and `service.compat.rules` (which
checks them). Pure data: no I/O, no database, no web framework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """A distribution name as PEP 503 normalizes it (`Flash_Attn` -> `flash-attn`): the same
    result as packaging's canonicalize_name, without importing packaging (the CLI's start-up
    pays ~40 ms for packaging.utils)."""
    return _SEPARATORS.sub("-", name).lower()


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file a fact was found. `line` is 1-based; `key` is the config key, dotted."""

    file: str
    line: int | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedTechnique:
    """A technique the plan uses (a slug such as `qlora` or `zero-3`) and what revealed it."""

    id: str
    location: Location | None = None
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedLibrary:
    """A library pinned by the plan: normalized name (PEP 503, lower case) and version string."""

    name: str
    version: str
    location: Location | None = None


SettingValue = str | int | float | bool | tuple[str, ...] | None

SETTINGS: dict[str, str] = {
    "deepspeed.zero_stage": "ZeRO stage, 0-3 (0: ZeRO off)",
    "deepspeed.offload_optimizer": "optimizer-state offload device: none, cpu or nvme",
    "deepspeed.offload_param": "parameter offload device: none, cpu or nvme",
    "deepspeed.zero3_init_flag": "zero.Init at load (Accelerate's zero3_init_flag)",
    "deepspeed.config_file": "the DeepSpeed JSON a launcher or training config names",
    "fsdp.version": "FSDP version: 1 or 2",
    "fsdp.sharding_strategy": "FULL_SHARD, SHARD_GRAD_OP, HYBRID_SHARD, NO_SHARD, ...",
    "fsdp.offload_params": "FSDP CPU offload of parameters",
    "fsdp.cpu_ram_efficient_loading": "load weights on rank 0 only, then broadcast",
    "fsdp.use_orig_params": "FSDP use_orig_params",
    "quant.bits": "bits of the quantized base model: 4 or 8",
    "quant.method": "bitsandbytes, gptq, awq, aqlm, hqq, fp8, ...",
    "quant.type": "4-bit data type: nf4 or fp4",
    "quant.double_quant": "QLoRA double quantization of the quantization constants",
    "quant.storage_dtype": "bnb_4bit_quant_storage (the dtype 4-bit weights are stored in)",
    "precision": "bf16, fp16 or fp32 (mixed precision as configured)",
    "lora.rank": "LoRA rank r",
    "lora.alpha": "LoRA alpha",
    "lora.targets": "target modules (names), or ('all-linear',)",
    "train.micro_batch": "micro-batch size per GPU",
    "train.seq_len": "sequence length (cutoff / max length)",
    "train.gradient_checkpointing": "activation (gradient) checkpointing on",
    "train.gradient_accumulation": "gradient accumulation steps",
    "train.gpus": "number of processes / GPUs a launcher config names",
}
"""Canonical names of the settings readers report, whatever the tool's own key: rules and
the estimator read these, never a tool's spelling. The value is what each one means."""


@dataclass(frozen=True, slots=True)
class PlannedSetting:
    """A setting the job uses, under its canonical name (a key of SETTINGS).

    `guessed` marks a value inferred rather than read (e.g. a ZeRO stage taken from a file
    name because the file itself could not be read): never to be reported as fact.
    """

    name: str
    value: SettingValue
    location: Location | None = None
    guessed: bool = False


@dataclass(frozen=True, slots=True)
class PlannedModel:
    """The base model a config names, as written (a Hugging Face repo id, a path, a builder)."""

    name: str
    location: Location | None = None


@dataclass(frozen=True, slots=True)
class DetectNote:
    """Something a reader noticed that is not a technique: a reference it could not follow,
    a value it had to guess, a file it skipped. `severity` is "info" or "warning"."""

    severity: str
    message: str
    location: Location | None = None


@dataclass(slots=True)
class Plan:
    """A training plan: techniques (ordered, de-duplicated by id), scenarios, library pins,
    the settings and base model detected, and the readers' notes."""

    techniques: list[PlannedTechnique] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)
    libraries: dict[str, PlannedLibrary] = field(default_factory=dict)
    settings: dict[str, PlannedSetting] = field(default_factory=dict)
    model: PlannedModel | None = None
    notes: list[DetectNote] = field(default_factory=list)

    def add_setting(self, setting: PlannedSetting) -> None:
        """Record a setting unless it is already known (first read wins; a read value
        replaces a guessed one)."""
        known = self.settings.get(setting.name)
        if known is None or (known.guessed and not setting.guessed):
            self.settings[setting.name] = setting

    def add_technique(self, technique: PlannedTechnique) -> None:
        """Add a technique unless one with the same id is already there (first evidence wins)."""
        if all(t.id != technique.id for t in self.techniques):
            self.techniques.append(technique)

    def merge(self, other: Plan) -> None:
        """Fold another plan into this one (first occurrence of each id or library wins)."""
        for technique in other.techniques:
            self.add_technique(technique)
        for scenario in other.scenarios:
            if scenario not in self.scenarios:
                self.scenarios.append(scenario)
        for name, library in other.libraries.items():
            self.libraries.setdefault(name, library)
        for setting in other.settings.values():
            self.add_setting(setting)
        if self.model is None:
            self.model = other.model
        for note in other.notes:
            if note not in self.notes:
                self.notes.append(note)
