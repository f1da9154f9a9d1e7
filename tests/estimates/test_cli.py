"""`ftmatrix estimate`: offline from the shipped snapshot, the same figures as the API, one line
and exit 2 on bad input; and the parser's spellings are the estimator's."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from service import cli
from service.estimates import (
    FsdpStrategy,
    Method,
    OffloadDevice,
    Optimizer,
    Precision,
    Profile,
    QuantType,
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_parser_spells_what_the_estimator_accepts() -> None:
    for listed, enum in (
        (cli.METHODS, Method),
        (cli.QUANT_TYPES, QuantType),
        (cli.PRECISIONS, Precision),
        (cli.OPTIMIZERS, Optimizer),
        (cli.OFFLOAD_DEVICES, OffloadDevice),
        (cli.FSDP_STRATEGIES, FsdpStrategy),
        (cli.PROFILES, Profile),
    ):
        assert listed == [member.value for member in enum]


def test_a_table_for_a_catalog_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "--model", "phi-4", "--method", "qlora", "--seq-len", "2048",
        "--gradient-checkpointing", "--gpu", "l4-24gb", "--gpu", "a10-24gb",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.startswith("Estimate for phi-4, ftmatrix profile, 1 GPU(s)")
    assert "l4-24gb (22.35 GiB): fits, headroom" in out
    assert "a10-24gb (22.35 GiB): fits, headroom" in out  # 24 GB, as l4-24gb
    assert "Assumptions:" in out
    assert "Sources:" in out


def test_json_is_the_api_shape_and_reproduces_the_zero_paper(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "--params", "7500000000", "--profile", "zero-paper", "--gpus", "64",
        "--zero-stage", "3", "--format", "json",
    )  # fmt: skip
    body = json.loads(out)
    assert code == 0
    assert body["per_gpu"]["model_states"] == 1_875_000_000  # 16Ψ/64, ZeRO Table 1
    assert body["unit"]["symbol"] == "GB"
    assert set(body) >= {"revision", "per_gpu", "cpu", "params", "fits", "assumptions", "sources"}


def test_svg(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--model", "qwen2.5-0.5b", "--gpu", "t4-16gb", "--format", "svg")
    assert code == 0
    root = ET.fromstring(out)  # noqa: S314  (our own output, not untrusted XML)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--model", "phi-4-multimodal-instruct"], "has no architecture shape"),
        (["--model", "nope"], "No model with id or alias 'nope'"),
        (["--model", "phi-4", "--gpu", "h100"], "allowed: a10-24gb"),
        (["--model", "phi-4", "--method", "lora", "--lora-rank", "0"], "technique.lora.rank"),
        (["--model", "phi-4", "--zero-stage", "1", "--offload-params", "cpu"], "offload.params"),
        ([], "give model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("ftmatrix: ")
    assert says in err
