"""File names: quantization labels, split GGUF parts, and refusing unsafe hub paths.

Everything here is pure string work, shared by local discovery, the hub browser and the
download manager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from app.library.errors import UnsafeFileNameError

# llama.cpp's ``llama_ftype`` (``general.file_type``); gaps are types removed upstream.
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    33: "Q4_0_4_4",
    34: "Q4_0_4_8",
    35: "Q4_0_8_8",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}

# Approximate bits per weight, to guess a parameter count from a file size.
BITS_PER_WEIGHT: dict[str, float] = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69,
    "Q5_K_S": 5.54, "Q5_0": 5.5, "Q5_1": 6.0, "Q4_K_M": 4.89, "Q4_K_S": 4.58, "Q4_0": 4.55,
    "Q4_1": 5.0, "IQ4_XS": 4.25, "IQ4_NL": 4.5, "Q3_K_L": 4.27, "Q3_K_M": 3.91,
    "Q3_K_S": 3.5, "IQ3_M": 3.7, "IQ3_S": 3.44, "IQ3_XS": 3.3, "IQ3_XXS": 3.06,
    "Q2_K": 3.0, "Q2_K_S": 2.8, "IQ2_M": 2.7, "IQ2_S": 2.5, "IQ2_XS": 2.31, "IQ2_XXS": 2.06,
    "IQ1_M": 1.75, "IQ1_S": 1.56, "MXFP4": 4.25,
}  # fmt: skip

QUANT_RE = re.compile(
    r"(?<![A-Z0-9])(UD-)?"
    r"(I?Q[1-8](?:_[A-Z0-9]{1,3}){0,3}|BF16|F16|FP16|F32|FP32|MXFP4(?:_MOE)?|TQ[12]_0)"
    r"(?![A-Z0-9])"
)
_SPLIT_RE = re.compile(r"^(?P<base>.+)-(?P<part>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def quant_from_file_type(file_type: object) -> str | None:
    """The quantization label for ``general.file_type``, or None if unknown."""
    if isinstance(file_type, int) and not isinstance(file_type, bool):
        return FILE_TYPES.get(file_type)
    return None


def quant_from_name(name: str) -> str | None:
    """The quantization label in a file name (``model-Q4_K_M.gguf`` → ``Q4_K_M``), or None."""
    stem = PurePosixPath(name).name
    split = parse_split(stem)
    if split is not None:
        stem = split.base
    elif stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    matches = QUANT_RE.findall(stem.upper())
    if not matches:
        return None
    prefix, quant = matches[-1]  # the last one: names like "Q8-finetune-Q4_K_M" end with it
    quant = {"FP16": "F16", "FP32": "F32", "MXFP4_MOE": "MXFP4"}.get(quant, quant)
    return f"{prefix}{quant}"


@dataclass(frozen=True, slots=True)
class SplitName:
    """The parts of a split GGUF file name: ``{base}-{part:05}-of-{count:05}.gguf``."""

    base: str
    part: int
    count: int

    def part_name(self, part: int) -> str:
        return f"{self.base}-{part:05d}-of-{self.count:05d}.gguf"


def parse_split(name: str) -> SplitName | None:
    """The split parts of a file name (no folder), or None if it is not a split part."""
    m = _SPLIT_RE.match(name)
    if m is None:
        return None
    part, count = int(m["part"]), int(m["count"])
    if count < 1 or part < 1 or part > count:
        return None
    return SplitName(m["base"], part, count)


def model_stem(name: str) -> str:
    """A file name without ``.gguf`` and without the split suffix."""
    split = parse_split(name)
    if split is not None:
        return split.base
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in range(10)
}
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def safe_relative_path(name: str) -> PurePosixPath:
    """``name`` (a path inside a hub repo) as a safe relative path, or UnsafeFileNameError.

    Refused: empty names, absolute paths, drive letters, backslashes, ``.``/``..`` parts,
    empty parts, control characters, ``:`` (Windows streams), Windows reserved device
    names, and parts starting with ``~`` or ending with a dot or a space.
    """
    shown = name.encode("unicode_escape").decode("ascii")[:200]

    def refuse(why: str) -> UnsafeFileNameError:
        return UnsafeFileNameError(f"refused file name from the hub {shown!r}: {why}")

    if not name or len(name) > 1000:
        raise refuse("empty or too long")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise refuse("control characters")
    if "\\" in name:
        raise refuse("backslash")
    if ":" in name:
        raise refuse("colon (drive letter or stream)")
    if name.startswith("/"):
        raise refuse("absolute path")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise refuse("empty, '.' or '..' path part")
        if len(part) > 255:
            raise refuse("a path part is too long")
        if part.startswith("~") or part.endswith((".", " ")):
            raise refuse("a path part starts with '~' or ends with a dot or space")
        if part.split(".")[0].upper() in _WINDOWS_RESERVED:
            raise refuse("a reserved device name")
    return PurePosixPath(*parts)


def check_repo_id(repo_id: str) -> tuple[str, str]:
    """``(publisher, name)`` of a hub repo id, or UnsafeFileNameError for anything odd."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) for p in parts) or ".." in repo_id:
        shown = repo_id.encode("unicode_escape").decode("ascii")[:200]
        raise UnsafeFileNameError(f"not a Hugging Face repository id: {shown!r} (want owner/name)")
    return parts[0], parts[1]
