"""The SVG picture: valid XML, accessible, self-contained, and showing the figures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from service.estimates import (
    Accounting,
    Activations,
    Component,
    EstimateInput,
    Method,
    Model,
    Profile,
    Technique,
    estimate,
    render_svg,
)
from tests.estimates.helpers import GIB
from tests.estimates.published_models import LLAMA_7B, bert_base_cased

SVG = "{http://www.w3.org/2000/svg}"
BATCH = Activations(seq_len=2048, gradient_checkpointing=True)
FULL = estimate(EstimateInput(model=Model(shape=LLAMA_7B), activations=BATCH))
QLORA = estimate(
    EstimateInput(model=Model(shape=LLAMA_7B), technique=Technique(Method.QLORA), activations=BATCH)
)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314  (our own output, not untrusted XML)


def test_valid_accessible_xml() -> None:
    root = parse(
        render_svg([("full", FULL), ("qlora", QLORA)], [80 * GIB, ("A10 24GB", 24 * 10**9)])
    )
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "title desc"
    first, second = list(root)[:2]
    assert first.tag == f"{SVG}title"
    assert first.text == "Estimated GPU memory per GPU"
    assert second.tag == f"{SVG}desc"
    assert second.text
    assert "full: " in second.text
    assert "fits in 80 GiB GPU" in second.text
    assert "qlora: " in second.text
    assert "A10 24GB" in second.text


def test_no_script_and_no_external_references() -> None:
    text = render_svg(FULL, [80 * GIB])
    root = parse(text)
    for element in root.iter():
        assert element.tag.removeprefix(SVG) not in {"script", "image", "use", "a", "foreignObject"}
        for name, value in element.attrib.items():
            assert "href" not in name
            assert not name.startswith("on")
            assert "url(" not in value
            assert "http" not in value
    assert text.count("http://") == 1  # the xmlns declaration only


def test_bars_lines_legend_and_labels() -> None:
    root = parse(render_svg([("full", FULL), ("qlora", QLORA)], [80 * GIB, 40 * GIB]))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    dashed = [line for line in root.findall(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 2
    assert "80 GiB GPU" in texts
    assert "40 GiB GPU" in texts
    for name in (
        "weights",
        "gradients",
        "optimizer states",
        "activations",
        "quantization constants",
    ):
        assert name in texts
    assert f"{FULL.per_gpu.total / GIB:,.1f} GiB" in texts
    assert any(t.endswith(" GiB") and t[0].isdigit() for t in texts)  # axis ticks carry units
    segments = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    nonzero = [[c for c in Component if e.per_gpu.component(c)] for e in (FULL, QLORA)]
    assert len(segments) == sum(len(parts) for parts in nonzero)
    # Bar heights are proportional to the totals.
    full_height = sum(float(r.get("height", "0")) for r in segments[: len(nonzero[0])])
    qlora_height = sum(float(r.get("height", "0")) for r in segments[len(nonzero[0]) :])
    ratio = QLORA.per_gpu.total / FULL.per_gpu.total
    assert abs(qlora_height / full_height - ratio) < 0.01


def test_accelerate_bar_is_its_largest_component() -> None:
    params, buffers = bert_base_cased()
    result = estimate(
        EstimateInput(
            model=Model(params=params, buffer_bytes=buffers),
            accounting=Accounting(profile=Profile.ACCELERATE),
        )
    )
    root = parse(render_svg(result))
    segments = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(segments) == 1


def test_titles_are_escaped() -> None:
    root = parse(render_svg([('a<b & "c"', FULL)], title="7B <full> & more"))
    assert next(iter(root)).text == "7B <full> & more"


def test_needs_an_estimate() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_svg([])
