"""The typed parts of bench's JSON: the machine a run was measured on, each runtime's
availability, and a row's per-op profile (`bench --profile`). Each keeps the keys it does not know
in `extra`, and a field declared with `optional()` is left out when None, so a record writes the
JSON it read (hand-edited or foreign files may lack any field but the machine's label)."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import typed
from .typed import optional


@dataclass
class MachineRecord:
    """runtimes/machine.py's machine_info: the label rows from two machines are told apart by."""

    label: str
    hostname: str | None = optional()
    cpu: str | None = optional()
    cores: int | None = optional()
    arch: str | None = optional()
    os: str | None = optional()
    python: str | None = optional()
    accelerators: list[str] | None = optional()
    packages: dict[str, str] | None = optional()  # package -> version
    threads: int | None = optional()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)


@dataclass
class RuntimeAvailability:
    device: str | None = None
    available: bool = False
    detail: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class ProfiledOp:
    """One op of a profiled model, in execution order (runtimes/*_profile.py), with its MACs."""

    index: int
    op: str
    ms: float
    node: str | None = optional()
    dtype: str | None = optional()
    inputs: list | None = optional()  # tensor shapes
    outputs: list | None = optional()
    delegated: bool | None = None
    backend: str | None = optional()
    macs: int | None = None
    gmac_s: float | None = None
    extra: dict = field(default_factory=dict)  # what a runtime adds (ONNX: the constant inputs' shapes)


@dataclass
class OpTypeTotal:
    count: int
    ms: float
    macs: int
    delegated: int
    gmac_s: float | None = None
    share: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ProfileRecord:
    """`bench --profile`: where one row's time goes, op by op (bench/profile.py), or why it could not."""

    available: bool
    reason: str | None = optional()
    threads: int | None = optional()
    method: str | None = optional()
    whole_ms: float | None = None
    whole_cpu_ms: float | None = optional()
    partitions: int | None = optional()  # LiteRT's delegate partitions (ONNX Runtime: none)
    ops: list[ProfiledOp] | None = optional()
    ops_ms: float | None = optional()
    macs: int | None = optional()
    gmac_s: float | None = optional()
    by_type: dict[str, OpTypeTotal] | None = optional()  # op type -> its totals, slowest first
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)
