"""Read a GGUF file's header (metadata keys) without loading weights.

Model files are untrusted input: every length and count is checked against the file size, and
a file that is not GGUF, is truncated or has absurd header values raises
:class:`app.errors.ModelFileError` with a message naming the file. Arrays (the vocabulary) are
skipped, not parsed: only their type and length are kept.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
MAX_KV = 100_000
MAX_TENSORS = 10_000_000
MAX_STRING = 64 * 1024 * 1024

# GGUF value types
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = range(10)
_UINT64, _INT64, _FLOAT64 = 10, 11, 12
_SCALARS: dict[int, struct.Struct] = {
    _UINT8: struct.Struct("<B"),
    _INT8: struct.Struct("<b"),
    _UINT16: struct.Struct("<H"),
    _INT16: struct.Struct("<h"),
    _UINT32: struct.Struct("<I"),
    _INT32: struct.Struct("<i"),
    _FLOAT32: struct.Struct("<f"),
    _BOOL: struct.Struct("<?"),
    _UINT64: struct.Struct("<Q"),
    _INT64: struct.Struct("<q"),
    _FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

MAX_DIMS = 4
"""GGML tensors have at most four dimensions."""

DEFAULT_ALIGNMENT = 32
"""Where tensor data starts (a multiple of ``general.alignment``, 32 by default)."""

# ggml type id -> (elements per block, bytes per block), from ggml's type traits.
_TYPE_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    9: (32, 36),  # Q8_1
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    15: (256, 292),  # Q8_K
    16: (256, 66),  # IQ2_XXS
    17: (256, 74),  # IQ2_XS
    18: (256, 98),  # IQ3_XXS
    19: (256, 50),  # IQ1_S
    20: (32, 18),  # IQ4_NL
    21: (256, 110),  # IQ3_S
    22: (256, 82),  # IQ2_S
    23: (256, 136),  # IQ4_XS
    24: (1, 1),  # I8
    25: (1, 2),  # I16
    26: (1, 4),  # I32
    27: (1, 8),  # I64
    28: (1, 8),  # F64
    29: (256, 56),  # IQ1_M
    30: (1, 2),  # BF16
    34: (256, 54),  # TQ1_0
    35: (256, 66),  # TQ2_0
    39: (32, 17),  # MXFP4
}


@dataclass(frozen=True, slots=True)
class ArrayValue:
    """An array in the header, skipped: its element type and length only."""

    item_type: int
    length: int


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    """The metadata of a GGUF file."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    data_end: int = 0
    """Where the file's tensor data ends: a shorter file is cut short."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, suffix: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{suffix}", default)

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) and value else self.path.stem


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)
        self.path = path

    def fail(self, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path.name}: not a usable GGUF file ({why})")

    def need(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail("the file is truncated")

    def u32(self) -> int:
        self.need(4)
        (value,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(value)

    def u64(self) -> int:
        self.need(8)
        (value,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return int(value)

    def string(self) -> str:
        n = self.u64()
        if n > MAX_STRING:
            raise self.fail(f"a string of {n} bytes")
        self.need(n)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.u64()
        if n > MAX_STRING:
            raise self.fail(f"a string of {n} bytes")
        self.need(n)
        self.pos += n

    def value(self, vtype: int) -> Any:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.u32()
            length = self.u64()
            if length > self.size:
                raise self.fail(f"an array of {length} items")
            self.skip_array(item_type, length)
            return ArrayValue(item_type, length)
        fmt = _SCALARS.get(vtype)
        if fmt is None:
            raise self.fail(f"unknown value type {vtype}")
        self.need(fmt.size)
        (value,) = fmt.unpack_from(self.buf, self.pos)
        self.pos += fmt.size
        return value

    def skip_array(self, item_type: int, length: int) -> None:
        if item_type == _STRING:
            # The vocabulary: 50k–250k strings. A tight local loop, not a method call each.
            buf, pos, size, unpack = self.buf, self.pos, self.size, _U64.unpack_from
            for _ in range(length):
                if pos + 8 > size:
                    raise self.fail("the file is truncated")
                (n,) = unpack(buf, pos)
                if n > MAX_STRING:
                    raise self.fail(f"a string of {n} bytes")
                pos += 8 + n
            if pos > size:
                raise self.fail("the file is truncated")
            self.pos = pos
        elif item_type == _ARRAY:
            for _ in range(length):
                self.skip_array(self.u32(), self.u64())
        else:
            fmt = _SCALARS.get(item_type)
            if fmt is None:
                raise self.fail(f"unknown array type {item_type}")
            self.need(fmt.size * length)
            self.pos += fmt.size * length


def model_bytes(path: str | Path) -> int:
    """Bytes of a model file; for the first part of a split GGUF, of all its parts."""
    from app.library.names import parse_split

    p = Path(path)
    total = p.stat().st_size
    split = parse_split(p.name)
    if split is not None and split.part == 1:
        for part in range(2, split.count + 1):
            other = p.with_name(split.part_name(part))
            if other.is_file():
                total += other.stat().st_size
    return total


def read_header(path: str | Path, *, whole: bool = True) -> GGUFHeader:
    """Parse the header of the GGUF file at ``path`` (metadata only).

    ``whole``: the file is meant to be complete, so its tensor records are read too and a
    file (with its other parts, for the first part of a split model) shorter than its tensor
    data is refused as truncated. ``False`` for the first bytes of a remote file: the
    metadata alone.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            if p.stat().st_size < 24:
                head = fh.read(4)
                if head != GGUF_MAGIC:
                    raise ModelFileError(f"{p.name}: not a GGUF model file")
                raise ModelFileError(f"{p.name}: not a usable GGUF file (the file is truncated)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(buf, p, whole)
    except FileNotFoundError:
        raise ModelFileError(f"model file not found: {p}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{p} is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"no permission to read {p}") from None
    except OSError as err:
        raise ModelFileError(f"cannot read {p}: {err.strerror or err}") from None


def _parse(buf: mmap.mmap, path: Path, whole: bool) -> GGUFHeader:
    r = _Reader(buf, path)
    r.need(4)
    if bytes(buf[0:4]) != GGUF_MAGIC:
        raise ModelFileError(f"{path.name}: not a GGUF model file")
    r.pos = 4
    version = r.u32()
    if version not in (2, 3):
        raise r.fail(f"unsupported GGUF version {version}")
    tensor_count = r.u64()
    kv_count = r.u64()
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise r.fail(f"absurd header counts ({tensor_count} tensors, {kv_count} keys)")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = r.string()
        metadata[key] = r.value(r.u32())
    if not whole:
        return GGUFHeader(path, version, tensor_count, metadata)
    data_end = _tensor_data_end(r, tensor_count, metadata.get("general.alignment"))
    size = model_bytes(path)  # a split model's first part may hold every tensor's record
    if data_end > size:
        raise r.fail(
            f"the file is truncated: its tensors need {data_end:,} bytes, it has {size:,}"
            "; an incomplete download?"
        )
    return GGUFHeader(path, version, tensor_count, metadata, data_end)


def _tensor_data_end(r: _Reader, tensor_count: int, alignment: Any) -> int:
    """Read the tensor records after the metadata: where the last tensor's data ends."""
    align = alignment if isinstance(alignment, int) and 0 < alignment <= 1 << 20 else 0
    align = align or DEFAULT_ALIGNMENT
    end = 0
    for _ in range(tensor_count):
        r.skip_string()  # the name
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            raise r.fail(f"a tensor of {n_dims} dimensions")
        elements = 1
        for _ in range(n_dims):
            elements *= r.u64()
        ggml_type = r.u32()
        offset = r.u64()
        per_block, block_bytes = _TYPE_BLOCKS.get(ggml_type, (1, 0))  # unknown: its start only
        end = max(end, offset + -(-elements // per_block) * block_bytes)
    start = -(-r.pos // align) * align
    return start + end if tensor_count else r.pos
