"""A loaded model as the window's tests show it (no engine needed)."""

from __future__ import annotations

from app.engine import ModelFile, ModelInfo, ModelTemplate, RuntimeParams
from app.templates import TemplateSource

#: What the model bar shows once a model is loaded (a long line: name, family, context...).
R1_7B = ModelInfo(
    ModelFile(
        "/models/bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf",
        "qwen2",
        "DeepSeek R1 Distill Qwen 7B",
        size_bytes=4_680_000_000,
        n_params=7_600_000_000,
        trained_context=131072,
    ),
    RuntimeParams(8192, n_threads=8, kv_cache_type="f16"),
    ModelTemplate("", TemplateSource.MODEL, "deepseek-r1"),
)
