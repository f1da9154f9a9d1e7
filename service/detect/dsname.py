"""Guessing a DeepSpeed config's ZeRO stage from its file name, when the file cannot be read.

Only a fallback: everything it yields is marked as guessed (`PlannedSetting.guessed`, the word
"guessed" in every technique's evidence, and a warning note), never reported as read.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from service.detect.plan import DetectNote, Location, Plan, PlannedSetting, PlannedTechnique

# Shipped names: Axolotl's zero3_bf16.json, zero3_bf16_cpuoffload_all.json; LLaMA-Factory's
# ds_z3_config.json, ds_z2_offload_config.json, ds_z0_config.json; Accelerate's
# zero_stage2_config.json.
_STAGE_IN_NAME = re.compile(r"(?<![a-z0-9])(?:zero|z)[-_]?(?:stage[-_]?)?([0-3])(?![0-9])")


def infer_from_name(reference: str, here: Location, reason: str) -> Plan:
    """Techniques guessed from a DeepSpeed config's file name, all pointing at `here`.

    `zero3`, `z3`, `zero_3`, `zero_stage3` in the name give the stage; `offload` gives
    zero-offload (unless the stage is 0). `reason` says why the file itself was not read; it is
    quoted in the evidence and in the warning note. The stage becomes a guessed
    `deepspeed.zero_stage` setting.
    """
    name = PurePosixPath(reference.replace("\\", "/")).name.lower()
    match = _STAGE_IN_NAME.search(name)
    stage = None if match is None else int(match.group(1))
    key = here.key or "deepspeed"
    prefix = f"{key}: {reference} ({reason}; "
    if stage is None:
        stage_note = "ZeRO stage not known"
    else:
        off = " (ZeRO off)" if stage == 0 else ""
        stage_note = f"ZeRO stage {stage}{off} guessed from the file name"
    plan = Plan()
    plan.add_technique(PlannedTechnique("deepspeed", here, prefix + stage_note + ")"))
    if stage is not None and stage > 0:
        for technique in ("zero", f"zero-{stage}"):
            plan.add_technique(PlannedTechnique(technique, here, prefix + stage_note + ")"))
    if "offload" in name and stage != 0:
        evidence = prefix + "offload guessed from 'offload' in the file name)"
        plan.add_technique(PlannedTechnique("zero-offload", here, evidence))
    if stage is not None:
        plan.add_setting(PlannedSetting("deepspeed.zero_stage", stage, here, guessed=True))
        guess = f"ZeRO stage {stage} is guessed from its file name, not read from the file"
    else:
        guess = "its ZeRO stage is not known"
    message = f"{key}: {reference} was not read ({reason}); {guess}"
    plan.notes.append(DetectNote("warning", message, here))
    return plan
