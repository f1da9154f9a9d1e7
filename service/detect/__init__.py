"""Detect the techniques, settings and library pins of a training job from its config files.

Readers are pure functions: each takes a file's text and the name to show in locations, and
returns a `Plan` (service.detect.plan) of techniques (each with the file, line and key that
revealed it and the evidence), library pins, canonical `settings` (names from SETTINGS), the
base `model`, and `notes`. `detect_files` (service.detect.files) is the only one that reads
from disk; readers get the files a config names (a DeepSpeed JSON, a requirements include)
through a `Resolver` the caller passes, and follow nothing without one.

Three outcomes, for a gate to report:

- a `Plan`: the file is a training config of an understood kind (`KINDS`). It may hold no
  technique at all (a full or freeze fine-tune, an Accelerate MULTI_GPU config): then an
  info `DetectNote` says what was read ("finetuning_type: full (full fine-tuning): no
  technique to check"), and the gate passes it.
- `NotAConfig`, a subclass of `DetectError`, raised only when the kind is guessed (`kind`
  None): the file is not a training config at all (docker-compose, a GitHub workflow,
  `.pre-commit-config.yaml`, a JSON without DeepSpeed's keys, a README). Report it as
  skipped with `error.message` as the reason; it is not a failure.
- `DetectError`: the file cannot be parsed (with the line and column of the syntax error),
  holds an invalid value (`zero_stage: 7`, `adapter: banana`, an unfilled `${VAR}`
  placeholder: with the line of its key), is ambiguous, or names a referenced file that
  cannot be parsed. A usage error: exit 2.

Settings are the values the files write (and the ones a technique implies, such as 4 bits for
QLoRA), never a tool's undocumented default. A value that could only be guessed (a ZeRO stage
taken from the name of a DeepSpeed file that could not be read) is a `PlannedSetting` with
`guessed=True`, every technique from it says "guessed" in its evidence, and a warning note
names the file and the reason it was not read.
"""

from service.detect.accelerate import detect_accelerate
from service.detect.axolotl import detect_axolotl
from service.detect.deepspeed import Resolver, Source, Unavailable, detect_deepspeed
from service.detect.dispatch import detect_text, detect_yaml
from service.detect.errors import KINDS, DetectError, NotAConfig
from service.detect.files import detect_files
from service.detect.llamafactory import detect_llamafactory
from service.detect.peft import detect_peft
from service.detect.pyproject import detect_pyproject
from service.detect.requirements import detect_requirements
from service.detect.torchtune import detect_torchtune

__all__ = [
    "KINDS",
    "DetectError",
    "NotAConfig",
    "Resolver",
    "Source",
    "Unavailable",
    "detect_accelerate",
    "detect_axolotl",
    "detect_deepspeed",
    "detect_files",
    "detect_llamafactory",
    "detect_peft",
    "detect_pyproject",
    "detect_requirements",
    "detect_text",
    "detect_torchtune",
    "detect_yaml",
]
