"""A small Knowledge mirroring the reference facts (pairs) and the Cookbook table (cells)."""

from __future__ import annotations

from collections.abc import Iterable

from service.compat.rules import (
    RULES,
    CellFact,
    Finding,
    Knowledge,
    PairFact,
    Report,
    TechniqueFact,
    check_plan,
)
from service.detect.plan import Location, Plan, PlannedLibrary, PlannedTechnique

PEFT_DEEPSPEED = "https://huggingface.co/docs/peft/accelerate/deepspeed"

PARENTS: dict[str, str | None] = {
    "lora": None,
    "qlora": "lora",
    "dora": "lora",
    "peft": None,
    "deepspeed": None,
    "zero": "deepspeed",
    "zero-1": "zero",
    "zero-2": "zero",
    "zero-3": "zero",
    "zero-offload": "zero",
    "zero-infinity": "zero",
    "zero-plus-plus": "zero",
    "fsdp": None,
}

QLORA_MIN = {
    "peft": ">=0.10.0",
    "bitsandbytes": ">=0.43.0",
    "accelerate": ">=0.28.0",
    "transformers": ">4.38.2",
    "trl": ">0.7.11",
}
QLORA_RECOMMENDED = {
    "peft": ">0.13.0",
    "bitsandbytes": ">=0.43.3",
    "accelerate": ">=1.0.1",
    "transformers": ">4.44.2",
    "trl": ">0.11.4",
}
QLORA_ZERO3_SETTINGS = (
    "zero3_init_flag: true in the Accelerate DeepSpeed config.",
    "bnb_4bit_quant_storage equal to the model dtype.",
)

PAIRS = (
    PairFact("qlora", "zero-1", "compatible", sources=(PEFT_DEEPSPEED,)),
    PairFact(
        "qlora",
        "zero-2",
        "compatible",
        note="ZeRO-2 does not shard parameters.",
        sources=(PEFT_DEEPSPEED,),
    ),
    PairFact(
        "qlora",
        "zero-3",
        "caveats",
        note="Supported with caveats since PEFT v0.10.0.",
        caveats=(
            "ZeRO-3 + QLoRA with CPU offloading uses more GPU memory than without.",
            "zero.Init does not pre-shard bnb-quantized weights at load.",
        ),
        settings=QLORA_ZERO3_SETTINGS,
        versions=QLORA_MIN,
        recommended_versions=QLORA_RECOMMENDED,
        since="PEFT v0.10.0 (2024-03-21, PR #1550)",
        sources=(PEFT_DEEPSPEED, "https://github.com/huggingface/peft/pull/1550"),
    ),
    PairFact(
        "qlora",
        "fsdp",
        "caveats",
        caveats=("Merging adapters under FSDP is unsupported.",),
        settings=("fsdp_cpu_ram_efficient_loading=true",),
        versions=QLORA_MIN,
        recommended_versions=QLORA_RECOMMENDED,
        sources=("https://huggingface.co/docs/peft/accelerate/fsdp",),
    ),
    PairFact("lora", "zero-3", "caveats", caveats=("Gather before merging.",)),
    PairFact("lora", "zero-1", "compatible", sources=(PEFT_DEEPSPEED,)),
    PairFact("lora", "zero-2", "compatible", sources=(PEFT_DEEPSPEED,)),
    PairFact("peft", "deepspeed", "caveats", caveats=("Merging under DeepSpeed errors.",)),
    PairFact("zero-offload", "lora", "caveats", caveats=("Savings land in CPU RAM.",)),
    PairFact("zero-offload", "qlora", "caveats", caveats=("More GPU memory with offload.",)),
    PairFact(
        "dora",
        "qlora",
        "caveats",
        note="QDoRA is supported since PEFT v0.10.0.",
        caveats=("Quantized merges are not bit-exact.",),
        versions={"peft": ">=0.10.0"},
        sources=("https://github.com/huggingface/peft/pull/1518",),
    ),
    PairFact("dora", "zero-2", "caveats", caveats=("Issues reported.",), confidence="medium"),
    PairFact("dora", "zero-3", "caveats", caveats=("Reported broken.",), confidence="low"),
    PairFact("dora", "fsdp", "caveats", versions={"peft": ">=0.12.0"}),
    PairFact("lora", "dora", "compatible", note="Both merge into a dense weight."),
    PairFact(
        "deepspeed",
        "fsdp",
        "incompatible",
        note="Mutually exclusive in Axolotl.",
        sources=("https://github.com/axolotl-ai-cloud/axolotl/pull/1388",),
    ),
    PairFact("zero-plus-plus", "lora", "compatible", versions={"deepspeed": ">=0.10.3"}),
    PairFact(
        "zero-plus-plus",
        "qlora",
        "unknown",
        note="No source found documenting bitsandbytes 4-bit bases with ZeRO++.",
        confidence="low",
    ),
    PairFact("peft", "lora", "not_applicable", note="PEFT implements LoRA."),
    PairFact("peft", "qlora", "not_applicable", note="PEFT implements QLoRA."),
    PairFact("peft", "dora", "not_applicable", note="PEFT implements DoRA."),
    PairFact("deepspeed", "zero", "not_applicable", note="ZeRO is implemented inside DeepSpeed."),
    PairFact("lora", "qlora", "not_applicable", note="QLoRA is LoRA on a 4-bit base."),
)

SCENARIOS = {
    "domain-adaptation": "Adapting pre-trained LLMs to specific tasks or domains",
    "reduce-cost": "Reducing computational and financial costs",
    "reduce-memory": "Reducing memory usage",
    "fewer-parameters": "Using fewer parameters for efficient finetuning",
    "data-parallel-memory": "Memory-efficient form of data parallelism",
}

# The Cookbook's columns, as first published.
TABLE = {
    "domain-adaptation": "yes yes yes yes yes yes",
    "reduce-cost": "yes yes no yes yes no",
    "reduce-memory": "no yes no yes yes yes",
    "fewer-parameters": "no yes yes no no yes",
    "data-parallel-memory": "no no no yes yes yes",
}
COLUMNS = ("lora", "qlora", "peft", "deepspeed", "zero", "dora")


def knowledge(
    *, add: Iterable[PairFact] = (), drop: Iterable[str] = (), cells: Iterable[CellFact] = ()
) -> Knowledge:
    """The sample, with extra pair facts, without the pairs named "a+b", and with extra cells."""
    dropped = {frozenset(pair.split("+")) for pair in drop}
    table = tuple(
        CellFact(scenario, technique, support)
        for scenario, row in TABLE.items()
        for technique, support in zip(COLUMNS, row.split(), strict=True)
    )
    return Knowledge(
        revision=7,
        techniques={
            tid: TechniqueFact(tid, tid.upper(), parent) for tid, parent in PARENTS.items()
        },
        pairs=tuple(p for p in PAIRS if p.key not in dropped) + tuple(add),
        cells=table + tuple(cells),
        scenarios=SCENARIOS,
    )


def at(tid: str) -> Location:
    """Where a technique was declared in the sample config."""
    return Location("train.yaml", line=len(tid), key=f"techniques.{tid}")


def plan(techniques: Iterable[str], scenarios: Iterable[str] = (), **pins: str) -> Plan:
    """A plan with located techniques and pins (keyword names use _ for -)."""
    result = Plan(scenarios=list(scenarios))
    for tid in techniques:
        result.add_technique(PlannedTechnique(tid, at(tid)))
    for name, version in pins.items():
        library = name.replace("_", "-")
        result.libraries[library] = PlannedLibrary(
            library, version, Location("requirements.txt", line=len(library))
        )
    return result


GOOD_PINS = {
    "peft": "0.13.0",
    "bitsandbytes": "0.44.0",
    "accelerate": "1.0.1",
    "transformers": "4.45.0",
}

# Cells beyond the Cookbook's yes/no, for the partial and unknown rules.
EXTRA_CELLS = (
    CellFact("reduce-cost", "fsdp", "partial", note="Only at scale.", sources=("https://x.org",)),
    CellFact("reduce-memory", "fsdp", "unknown"),
)

# A plan that trips most rules at once.
BUSY = plan(
    ["dora", "qlora", "zero-3", "zero-plus-plus", "fsdp", "peft", "zero-1"],
    ["reduce-cost", "fewer-parameters", "reduce-memory"],
    peft="0.9.0",
    bitsandbytes="0.44.0",
    accelerate="1.0.1",
)


def check(knowledge: Knowledge, checked: Plan) -> Report:
    """check_plan, asserting the invariants every report keeps."""
    report = check_plan(knowledge, checked)
    for finding in report.findings:
        assert finding.severity == RULES[finding.rule].severity
        assert finding.message.endswith(".")
        assert "\n" not in finding.message
    severities = {finding.severity for finding in report.findings}
    expected = "fail" if "error" in severities else "warn" if "warning" in severities else "pass"
    assert report.verdict == expected
    assert report.revision == knowledge.revision
    return report


def rules(report: Report) -> list[str]:
    return [finding.rule for finding in report.findings]


def only(report: Report, rule: str) -> Finding:
    found = [finding for finding in report.findings if finding.rule == rule]
    assert len(found) == 1, rules(report)
    return found[0]
