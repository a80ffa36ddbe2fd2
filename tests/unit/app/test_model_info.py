"""What a loaded model is: its file, how it runs, its template, and the flat form the
LOADED event carries across the process boundary."""

from __future__ import annotations

import json

import pytest

from app.engine import (
    Backend,
    LoadParams,
    ModelFile,
    ModelInfo,
    ModelTemplate,
    RuntimeParams,
    choose_model_template,
)
from app.templates import CHATML_TEMPLATE, TemplateSource

INFO = ModelInfo(
    ModelFile(
        "/models/Qwen3-4B-Q4_K_M.gguf",
        "qwen3",
        "Qwen3 4B",
        size_bytes=2_500_000_000,
        n_params=4_000_000_000,
        trained_context=40960,
        n_layer=36,
        bos_token="",
        eos_token="<|im_end|>",
        special_tokens={"bos": "", "eos": "<|im_end|>"},
    ),
    RuntimeParams(8192, n_gpu_layers=20, n_threads=8, flash_attn=True, kv_cache_type="q8_0"),
    ModelTemplate("{{ messages }}", TemplateSource.MODEL, "qwen3"),
)


def test_the_loaded_event_data_keeps_its_flat_json_shape() -> None:
    # The keys and values the LOADED event has always carried, enums as their values.
    assert json.loads(json.dumps(INFO.to_dict())) == {
        "path": "/models/Qwen3-4B-Q4_K_M.gguf",
        "architecture": "qwen3",
        "name": "Qwen3 4B",
        "size_bytes": 2_500_000_000,
        "n_params": 4_000_000_000,
        "trained_context": 40960,
        "n_ctx": 8192,
        "n_gpu_layers": 20,
        "n_threads": 8,
        "flash_attn": True,
        "kv_cache_type": "q8_0",
        "chat_template": "{{ messages }}",
        "template_source": "model",
        "family_id": "qwen3",
        "bos_token": "",
        "eos_token": "<|im_end|>",
        "special_tokens": {"bos": "", "eos": "<|im_end|>"},
        "backend": "llama.cpp",
        "endpoint": "",
        "n_layer": 36,
    }
    again = ModelInfo.from_dict(INFO.to_dict())
    assert again == INFO
    assert again.runtime.backend is Backend.LLAMA_CPP
    assert again.template.template_source is TemplateSource.MODEL


def test_the_parts_read_through_the_info_and_replace_routes_to_them() -> None:
    assert (INFO.path, INFO.n_ctx, INFO.family_id) == (
        INFO.file.path,
        INFO.runtime.n_ctx,
        INFO.template.family_id,
    )
    assert INFO.placement == "GPU: 20/36 layers"
    remote = INFO.replace(backend="remote", endpoint="http://host/v1", n_gpu_layers=0)
    assert remote.backend is Backend.REMOTE and remote.runtime.endpoint == "http://host/v1"
    assert remote.placement == "CPU" and remote.file == INFO.file
    with pytest.raises(TypeError, match="no field n_context"):
        INFO.replace(n_context=1)


@pytest.mark.parametrize(
    ("own", "override", "source", "origin"),
    [
        ("{{ 'own' }}", None, TemplateSource.MODEL, "of m.gguf"),
        ("{{ 'own' }}", "{{ 'mine' }}", TemplateSource.OVERRIDE, "from /t/mine.jinja"),
        (None, None, TemplateSource.FALLBACK, "ChatML (the fallback)"),
        ("{% if %}", None, TemplateSource.FALLBACK, "ChatML (the fallback)"),
    ],
)
def test_one_template_choice_for_the_local_engines(
    own: str | None, override: str | None, source: TemplateSource, origin: str
) -> None:
    params = LoadParams("m.gguf", chat_template=override, chat_template_name="/t/mine.jinja")
    template, family, part = choose_model_template(
        own, params, file_name="m.gguf", architecture="llama", name="DeepSeek-R1-Distill"
    )
    assert template.origin == origin
    assert part == ModelTemplate(template.source, source, family.id)
    assert family.id == "deepseek-r1"  # the name tells the family when the template does not
    if source is TemplateSource.FALLBACK:
        assert template.source == CHATML_TEMPLATE
