"""A tiny MLX model folder built offline: random weights, a real (trained) tokenizer.

The folder has what a real MLX conversion has: ``config.json`` with ``quantization`` (4-bit,
like most MLX models on the hub), ``model.safetensors``, ``tokenizer.json`` (a byte-level BPE
trained here with the ``tokenizers`` package, with ChatML and ``<think>`` special tokens) and
``tokenizer_config.json`` carrying a chat template that ends the prompt with ``<think>\\n``
(as current DeepSeek-R1 distills and QwQ do), so every answer starts inside the reasoning.

Random weights never close the reasoning themselves: give a thinking budget (or press
"answer now") to get past it. Everything is seeded, so a seeded generation is reproducible.
Needs ``mlx[cpu]`` and ``mlx-lm`` (which bring ``tokenizers``).
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)

_CORPUS = (
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "Let me think about it step by step. Wait, the answer is 42.",
    "Time is up. I will give the final answer now.",
    "Hello! How can I help you today? Count: one, two, three, four, five.",
    "Ça va? Größe, naïve café — 東京 and emoji 🙂 are bytes too.",
)


def _train_tokenizer(vocab_size: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_CORPUS) * 20, trainer)
    return tokenizer


def build_tiny_mlx_model(dest: Path, *, seed: int = 0, chat_template: str = CHAT_TEMPLATE) -> Path:
    """Write the model folder to ``dest`` (created) and return it."""
    import mlx.core as mx
    from mlx_lm.models import llama
    from mlx_lm.utils import quantize_model, save_config, save_model

    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(512)
    tokenizer.save(str(dest / "tokenizer.json"))  # type: ignore[attr-defined]
    vocab = int(tokenizer.get_vocab_size())  # type: ignore[attr-defined]
    eos_id = int(tokenizer.token_to_id("<|im_end|>"))  # type: ignore[attr-defined]
    (dest / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "chat_template": chat_template,
                "model_max_length": 4096,
            }
        ),
        encoding="utf-8",
    )
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
        "eos_token_id": eos_id,
    }
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    model, config = quantize_model(model, config, group_size=32, bits=4)
    save_model(dest, model)
    save_config(config, dest / "config.json")
    return dest


if __name__ == "__main__":
    import sys

    print(build_tiny_mlx_model(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-mlx-model")))
