"""Detect the techniques and library pins of a training job from its config files.

Pure functions take a file's text and the name to show in locations; `detect_files` is the
only one that reads from disk. Every finding carries the file, line and key that revealed it.
"""

from service.detect.axolotl import detect_axolotl
from service.detect.deepspeed import Resolver, Source, Unavailable, detect_deepspeed
from service.detect.dispatch import detect_text, detect_yaml
from service.detect.errors import KINDS, DetectError
from service.detect.files import detect_files
from service.detect.llamafactory import detect_llamafactory
from service.detect.peft import detect_peft
from service.detect.requirements import detect_requirements

__all__ = [
    "KINDS",
    "DetectError",
    "Resolver",
    "Source",
    "Unavailable",
    "detect_axolotl",
    "detect_deepspeed",
    "detect_files",
    "detect_llamafactory",
    "detect_peft",
    "detect_requirements",
    "detect_text",
    "detect_yaml",
]
