"""Sandboxed chat-template rendering: real templates, hostile templates, template files."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import TemplateError
from app.templates import (
    CHATML_TEMPLATE,
    MAX_TEMPLATE_BYTES,
    ChatTemplate,
    load_template_file,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "chat_templates"
REAL = (
    "deepseek-r1-distill.jinja",
    "deepseek-r1-distill-legacy.jinja",
    "qwq-32b.jinja",
    "qwen3.jinja",
    "gpt-oss.jinja",
)
CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def render(source: str, **kwargs: Any) -> str:
    return ChatTemplate(source).render([], **kwargs)


# --- real templates --------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_real_template_renders_a_conversation(name: str) -> None:
    template = ChatTemplate(fixture(name))
    prompt = template.render(
        CONVERSATION, bos_token="<BOS>", eos_token="<EOS>", reasoning_effort="high"
    )
    assert "What is 2+2?" in prompt
    assert "And 3+3?" in prompt
    assert "Answer briefly." in prompt
    assert prompt.index("What is 2+2?") < prompt.index("And 3+3?")


@pytest.mark.parametrize("name", REAL)
def test_real_template_without_generation_prompt(name: str) -> None:
    template = ChatTemplate(fixture(name))
    with_prompt = template.render(CONVERSATION, add_generation_prompt=True)
    without = template.render(CONVERSATION, add_generation_prompt=False)
    assert with_prompt.startswith(without)
    assert len(with_prompt) > len(without)


def test_r1_template_emits_bos_and_prefills_think() -> None:
    prompt = ChatTemplate(fixture("deepseek-r1-distill.jinja")).render(
        [{"role": "user", "content": "Hi"}], bos_token="<｜begin▁of▁sentence｜>"
    )
    assert prompt == "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n"


def test_gpt_oss_template_gets_date_and_effort() -> None:
    prompt = ChatTemplate(fixture("gpt-oss.jinja")).render(
        [{"role": "user", "content": "Hi"}], reasoning_effort="low"
    )
    assert f"Current date: {datetime.now():%Y-%m-%d}" in prompt
    assert "Reasoning: low" in prompt
    assert prompt.endswith("<|start|>user<|message|>Hi<|end|><|start|>assistant")


def test_gpt_oss_template_defaults_to_medium_effort() -> None:
    prompt = ChatTemplate(fixture("gpt-oss.jinja")).render([{"role": "user", "content": "Hi"}])
    assert "Reasoning: medium" in prompt


def test_gpt_oss_template_error_surfaces_its_message() -> None:
    template = ChatTemplate(fixture("gpt-oss.jinja"))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<|channel|>analysis<|message|>hmm"},
        {"role": "user", "content": "?"},
    ]
    with pytest.raises(TemplateError, match="containing <\\|channel\\|> tags"):
        template.render(messages)


def test_chatml_fallback() -> None:
    prompt = ChatTemplate(CHATML_TEMPLATE).render(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    )
    assert prompt == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    )


@given(st.text())
def test_chatml_keeps_any_content_verbatim(content: str) -> None:
    prompt = ChatTemplate(CHATML_TEMPLATE).render([{"role": "user", "content": content}])
    assert prompt == f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


def test_fingerprint_and_source() -> None:
    source = fixture("qwen3.jinja")
    template = ChatTemplate(source)
    assert template.source == source
    assert template.fingerprint == hashlib.sha256(source.encode()).hexdigest()
    assert ChatTemplate(source).fingerprint == template.fingerprint
    assert ChatTemplate(CHATML_TEMPLATE).fingerprint != template.fingerprint
    assert template.fingerprint[:12] in repr(template)


def test_render_does_not_change_the_messages() -> None:
    messages = [{"role": "user", "content": "Hi"}]
    ChatTemplate(fixture("qwen3.jinja")).render(messages, enable_thinking=False)
    assert messages == [{"role": "user", "content": "Hi"}]


# --- environment features --------------------------------------------------------------------


def test_tojson_does_not_escape_html_or_non_ascii() -> None:
    assert render("{{ {'a': '<b>&é'} | tojson }}") == '{"a": "<b>&é"}'
    assert render("{{ [1, 2] | tojson(indent=2) }}") == "[\n  1,\n  2\n]"


def test_strftime_now() -> None:
    assert render("{{ strftime_now('%Y') }}") == str(datetime.now().year)


def test_loop_controls() -> None:
    source = "{% for i in range(10) %}{% if i == 1 %}{% continue %}{% endif %}"
    source += "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"
    assert render(source) == "023"


def test_trim_and_lstrip_blocks() -> None:
    assert render("  {% if true %}\nA\n  {% endif %}\nB") == "A\nB"


def test_generation_tag_renders_its_body_in_its_own_scope() -> None:
    source = "{% generation %}x{% set inner = 1 %}{% endgeneration %}[{{ inner }}]"
    assert render(source) == "x[]"


def test_raise_exception_surfaces_the_message() -> None:
    with pytest.raises(TemplateError, match="Conversation roles must alternate") as info:
        render("{{ raise_exception('Conversation roles must alternate user/assistant') }}")
    assert str(info.value).startswith("chat template failed to render:")


def test_runtime_failure_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="chat template failed to render"):
        ChatTemplate("{{ messages[0].content.nothing() }}").render([{"role": "user"}])


def test_kwargs_reach_the_template() -> None:
    assert render("{{ enable_thinking }}/{{ bos_token }}", enable_thinking=False) == "False/"


# --- broken templates ------------------------------------------------------------------------


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(TemplateError, match="syntax error on line 3"):
        ChatTemplate("{% for m in messages %}\n{{ m.content }}\n{% endif %}")


@pytest.mark.parametrize(
    "source",
    ["{{ x | no_such_filter }}", "{% if %}", "{{ }", "{% generation %}never closed"],
)
def test_uncompilable_template(source: str) -> None:
    with pytest.raises(TemplateError, match="chat template"):
        ChatTemplate(source)


@pytest.mark.parametrize("source", ["", "   \n"])
def test_empty_template(source: str) -> None:
    with pytest.raises(TemplateError, match="empty"):
        ChatTemplate(source)


def test_oversized_template() -> None:
    with pytest.raises(TemplateError, match="too large"):
        ChatTemplate("x" * (MAX_TEMPLATE_BYTES + 1))


# --- hostile templates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ [].__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'].popen('touch {marker}') }}",
        "{{ self._TemplateReference__context }}",
        "{{ raise_exception.__globals__ }}",
        "{{ strftime_now.__globals__ }}",
        "{{ messages.__class__ }}",
        "{{ messages['__class__'] }}",
        "{% set _ = messages.append(1) %}",
        "{% set _ = messages[0].update({'role': 'x'}) %}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
    ],
)
def test_sandbox_blocks_escapes(source: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    template = ChatTemplate(source.replace("{marker}", str(marker)))
    with pytest.raises(TemplateError):
        template.render([{"role": "user", "content": "x"}])
    assert not marker.exists()


def test_range_is_limited() -> None:
    with pytest.raises(TemplateError, match="MAX_RANGE"):
        render("{% for i in range(10**9) %}{{ i }}{% endfor %}")
    assert render("{{ range(100000) | length }}") == "100000"


def test_output_size_is_capped() -> None:
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx"
    loop += "{% endfor %}{% endfor %}"
    start = time.monotonic()
    with pytest.raises(TemplateError, match="exceeds 4 MB"):
        render(loop)
    assert time.monotonic() - start < 10


def test_output_cap_can_be_lowered() -> None:
    template = ChatTemplate("{% for i in range(1000) %}x{% endfor %}", max_output_chars=100)
    with pytest.raises(TemplateError, match="exceeds"):
        template.render([])


def test_runaway_render_is_stopped_by_the_deadline() -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    template = ChatTemplate(source, timeout_s=0.2)
    start = time.monotonic()
    with pytest.raises(TemplateError, match="ran too long"):
        template.render([])
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**9 }}",
        "{{ 10**9 * 'a' }}",
        "{{ [1] * 10**9 }}",
        "{{ 10 ** (10 ** 10) }}",
        "{% set n = 99999 %}{{ n ** n }}",
    ],
)
def test_huge_values_are_refused_quickly(source: str) -> None:
    start = time.monotonic()
    template = ChatTemplate(source)  # must not fold the constant at compile time
    with pytest.raises(TemplateError, match="too large"):
        template.render([])
    assert time.monotonic() - start < 5


def test_ordinary_arithmetic_still_works() -> None:
    assert render("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 3 * 4 }} {{ 2.0 ** 0.5 > 1 }}") == (
        "1024 ababab 12 True"
    )


# --- template files --------------------------------------------------------------------------


def test_load_template_file(tmp_path: Path) -> None:
    assert load_template_file(FIXTURES / "qwen3.jinja") == fixture("qwen3.jinja")
    path = tmp_path / "t.jinja"
    path.write_bytes("\ufeff{{ 'é' }}".encode())
    assert load_template_file(str(path)) == "{{ 'é' }}"


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not found"):
        load_template_file(tmp_path / "nope.jinja")


def test_load_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="folder"):
        load_template_file(tmp_path)


def test_load_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jinja"
    path.write_bytes("{{ 'café' }}".encode("latin-1"))
    with pytest.raises(TemplateError, match="not UTF-8"):
        load_template_file(path)


def test_load_oversized(tmp_path: Path) -> None:
    path = tmp_path / "big.jinja"
    path.write_bytes(b"x" * (MAX_TEMPLATE_BYTES + 1))
    with pytest.raises(TemplateError, match="too large"):
        load_template_file(path)


def test_load_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jinja"
    path.write_text("\n")
    with pytest.raises(TemplateError, match="empty"):
        load_template_file(path)


def test_load_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "secret.jinja"
    path.write_text("{{ 1 }}")
    path.chmod(0)
    try:
        if path.read_bytes():  # running as root: permissions do not apply
            pytest.skip("cannot make a file unreadable as this user")
    except PermissionError:
        with pytest.raises(TemplateError, match="cannot read"):
            load_template_file(path)
    finally:
        path.chmod(0o600)
