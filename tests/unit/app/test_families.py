"""Model family registry and detection."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from app.families import (
    FAMILIES,
    Family,
    HistoryPolicy,
    OffMode,
    SystemPolicy,
    detect_family,
    family_from_name,
    family_from_template,
    get_family,
)
from app.reasoning_formats import FORMATS
from app.request import Sampling
from app.templates import CHATML_TEMPLATE

FIXTURES = Path(__file__).parents[2] / "fixtures" / "chat_templates"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# --- the registry ----------------------------------------------------------------------------


def test_every_family_of_the_tech_notes_is_there() -> None:
    assert set(FAMILIES) == {
        "deepseek-r1",
        "qwq",
        "openthinker",
        "qwen3",
        "gpt-oss",
        "exaone-deep",
        "magistral",
        "seed-oss",
        "stratos",
        "s1",
        "generic",
    }


@pytest.mark.parametrize("family", FAMILIES.values(), ids=lambda f: f.id)
def test_family_is_complete(family: Family) -> None:
    assert FAMILIES[family.id] is family
    assert family.display_name
    assert FORMATS[family.reasoning.name] is family.reasoning
    for f in fields(Sampling):
        assert getattr(family.preset, f.name) is not None, f.name
    temperature, top_p = family.preset.temperature, family.preset.top_p
    assert temperature is not None and 0 < temperature <= 2
    assert top_p is not None and 0 < top_p <= 1
    assert family.preset.repeat_penalty == 1.0
    assert family.supports_effort == (family.off_mode is OffMode.LOW_EFFORT)
    assert family.reasons == (family.off_mode is not OffMode.NONE)


def test_presets_follow_the_model_makers() -> None:
    r1 = FAMILIES["deepseek-r1"]
    assert (r1.preset.temperature, r1.preset.top_p) == (0.6, 0.95)
    assert r1.system_policy is SystemPolicy.FOLD_INTO_USER
    assert r1.history_policy is HistoryPolicy.DROP
    assert "system prompt" in r1.advice

    qwq = FAMILIES["qwq"]
    assert (qwq.preset.temperature, qwq.preset.top_p, qwq.preset.top_k) == (0.6, 0.95, 40)
    assert qwq.history_policy is HistoryPolicy.DROP

    qwen3 = FAMILIES["qwen3"]
    preset = qwen3.preset
    assert (preset.temperature, preset.top_p, preset.top_k, preset.min_p) == (0.6, 0.95, 20, 0)
    assert qwen3.history_policy is HistoryPolicy.REASONING_CONTENT
    assert qwen3.off_mode is OffMode.TEMPLATE_KWARG

    oss = FAMILIES["gpt-oss"]
    assert (oss.preset.temperature, oss.preset.top_p) == (1.0, 1.0)
    assert oss.history_policy is HistoryPolicy.THINKING_FIELD
    assert oss.off_mode is OffMode.LOW_EFFORT
    assert oss.supports_effort
    assert "<|return|>" in oss.stop_strings

    generic = FAMILIES["generic"]
    assert generic.off_mode is OffMode.NONE
    assert not generic.reasons
    assert generic.preset == Sampling(0.7, 0.95, 40, 0.05, 1.0)


def test_sampling_overrides_the_preset_field_by_field() -> None:
    qwen3 = FAMILIES["qwen3"]
    assert qwen3.sampling(Sampling()) == qwen3.preset
    merged = qwen3.sampling(Sampling(temperature=0.0, min_p=0.1))
    assert merged == Sampling(0.0, 0.95, 20, 0.1, 1.0)


def test_get_family_falls_back_to_generic() -> None:
    assert get_family("qwq") is FAMILIES["qwq"]
    assert get_family("no-such-family") is FAMILIES["generic"]
    assert get_family("") is FAMILIES["generic"]


# --- detection by template -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("deepseek-r1-distill.jinja", "deepseek-r1"),
        ("deepseek-r1-distill-legacy.jinja", "deepseek-r1"),
        ("qwq-32b.jinja", "qwq"),
        ("qwen3.jinja", "qwen3"),
        ("gpt-oss.jinja", "gpt-oss"),
        ("synthetic-exaone-deep.jinja", "exaone-deep"),
        ("synthetic-magistral.jinja", "magistral"),
        ("synthetic-seed-oss.jinja", "seed-oss"),
        ("synthetic-stratos.jinja", "stratos"),
        ("synthetic-s1.jinja", "s1"),
        ("synthetic-chatml-smollm2.jinja", "generic"),
    ],
)
def test_detect_from_fixture_template(name: str, family: str) -> None:
    assert detect_family(chat_template=fixture(name)).id == family


def test_plain_chatml_is_no_family() -> None:
    assert family_from_template(CHATML_TEMPLATE) is None
    assert family_from_template(None) is None
    assert family_from_template("") is None
    assert detect_family(chat_template=CHATML_TEMPLATE, architecture="llama").id == "generic"


def test_template_wins_over_name() -> None:
    # The app can give a non-reasoning model a reasoning family's template (an override).
    family = detect_family(
        chat_template=fixture("deepseek-r1-distill.jinja"), name="SmolLM2-135M-Instruct"
    )
    assert family.id == "deepseek-r1"
    family = detect_family(chat_template=fixture("qwen3.jinja"), name="QwQ-32B")
    assert family.id == "qwen3"


def test_qwq_like_template_defers_to_a_compatible_name() -> None:
    qwq_like = fixture("qwq-32b.jinja")
    assert detect_family(chat_template=qwq_like, name="OpenThinker2-7B").id == "openthinker"
    assert detect_family(chat_template=qwq_like, name="DeepScaleR-1.5B").id == "deepseek-r1"
    # Qwen3 turns reasoning off another way; this template would ignore enable_thinking.
    assert detect_family(chat_template=qwq_like, name="Qwen3-4B-Thinking-2507").id == "qwq"


# --- detection by name and architecture ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("DeepSeek-R1-Distill-Qwen-7B", "deepseek-r1"),
        ("DeepSeek-R1-Distill-Llama-8B-Q4_K_M.gguf", "deepseek-r1"),
        ("deepseek_r1_distill_qwen_1.5b", "deepseek-r1"),
        ("DeepSeek-R1-0528-Qwen3-8B", "deepseek-r1"),
        ("DeepScaleR-1.5B-Preview", "deepseek-r1"),
        ("QwQ-32B", "qwq"),
        ("Qwen3-8B", "qwen3"),
        ("Qwen3 30B A3B", "qwen3"),
        ("Sky-T1-32B-Preview", "stratos"),
        ("Bespoke-Stratos-7B", "stratos"),
        ("OpenThinker-7B", "stratos"),
        ("OpenThinker2-7B", "openthinker"),
        ("OpenThinker3-7B-Q8_0", "openthinker"),
        ("s1.1-32B", "s1"),
        ("simplescaling_s1-32B", "s1"),
        ("EXAONE-Deep-7.8B", "exaone-deep"),
        ("Magistral-Small-2507", "magistral"),
        ("Seed-OSS-36B-Instruct", "seed-oss"),
        ("gpt-oss-20b", "gpt-oss"),
        ("openai_gpt-oss-120b-MXFP4", "gpt-oss"),
    ],
)
def test_detect_from_name(name: str, family: str) -> None:
    assert detect_family(chat_template=None, name=name).id == family
    assert detect_family(chat_template=CHATML_TEMPLATE, name=name).id == family


@pytest.mark.parametrize(
    "name",
    [
        "SmolLM2-135M-Instruct",
        "Qwen2.5-7B-Instruct",
        "Qwen3-4B-Instruct-2507",
        "Qwen3-Coder-30B-A3B",
        "Llama-3.2-1B-Instruct",
        "EXAONE-3.5-2.4B-Instruct",
        "gemma-3-4b-it",
        "models1x",
        "",
        None,
    ],
)
def test_names_of_no_family(name: str | None) -> None:
    assert family_from_name(name) is None


@pytest.mark.parametrize(
    ("architecture", "template", "family"),
    [
        ("gpt-oss", None, "gpt-oss"),
        ("gpt-oss", CHATML_TEMPLATE, "gpt-oss"),  # harmony whatever the template says
        ("seed_oss", None, "seed-oss"),
        ("exaone", None, "exaone-deep"),
        ("exaone", CHATML_TEMPLATE, "generic"),  # EXAONE 3.5 has no <thought> in its template
        ("llama", None, "generic"),
        ("qwen2", None, "generic"),
        (None, None, "generic"),
    ],
)
def test_detect_from_architecture(
    architecture: str | None, template: str | None, family: str
) -> None:
    detected = detect_family(chat_template=template, architecture=architecture, name="model")
    assert detected.id == family
