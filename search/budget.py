"""What the target phone allows: one :class:`Budget` for the search and for the reports.

The search checks a candidate's measured costs against it before training
(:meth:`Budget.violation`); the leaderboard and export check trial records
(:meth:`Budget.fits`). Pure: no Keras, no files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search.errors import UserError

if TYPE_CHECKING:
    from search.costs import Costs
    from search.records import TrialRecord


@dataclass(frozen=True, kw_only=True)
class Budget:
    """Limits on a candidate; None means no limit. Every limit given must be above 0."""

    max_params: float | None = None
    max_kib: float | None = None  # of the deploy_dtype TFLite file
    max_latency_ms: float | None = None  # host latency, LiteRT interpreter, 1 thread
    max_macs: float | None = None  # multiply-accumulates per image
    deploy_dtype: str = "float16"  # the TFLite file a phone ships: max_kib is its size

    def __post_init__(self) -> None:
        for flag, v in (("--max-kib", self.max_kib), ("--max-latency-ms", self.max_latency_ms),
                        ("--max-params", self.max_params), ("--max-macs", self.max_macs)):
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise UserError(f"{flag} must be a number above 0, got {v!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_params, self.max_kib, self.max_latency_ms,
                                            self.max_macs))

    @property
    def needs_conversion(self) -> bool:
        """Whether a candidate's fit depends on figures only a conversion gives (size,
        latency): then they are measured before it trains, not while."""
        return self.max_kib is not None or self.max_latency_ms is not None

    def describe(self) -> str:
        """The limits in words, e.g. ``50 KiB (float16 TFLite), 2 ms host latency``."""
        parts = []
        if self.max_kib is not None:
            parts.append(f"{self.max_kib:g} KiB ({self.deploy_dtype} TFLite)")
        if self.max_latency_ms is not None:
            parts.append(f"{self.max_latency_ms:g} ms host latency")
        if self.max_params is not None:
            parts.append(f"{self.max_params:,.0f} parameters")
        if self.max_macs is not None:
            parts.append(f"{self.max_macs:,.0f} MACs")
        return ", ".join(parts)

    def violation(self, c: Costs) -> str | None:
        """The first figure of a candidate's costs that breaks the budget, as a sentence; None
        if it fits."""
        if self.max_params is not None and c.params > self.max_params:
            return f"{c.params:,} parameters > --max-params {self.max_params:,}"
        if self.max_macs is not None and c.macs is not None and c.macs > self.max_macs:
            return f"{c.macs:,} MACs > --max-macs {self.max_macs:,}"
        if self.max_kib is not None and c.kib(self.deploy_dtype) > self.max_kib:
            return (f"{self.deploy_dtype} TFLite {c.kib(self.deploy_dtype):.1f} KiB > "
                    f"--max-kib {self.max_kib:g}")
        if (self.max_latency_ms is not None and c.latency_ms is not None
                and c.latency_ms > self.max_latency_ms):
            return f"latency {c.latency_ms:.2f} ms > --max-latency-ms {self.max_latency_ms:g}"
        return None

    def fits(self, record: TrialRecord) -> bool | None:
        """Whether a trial record meets every limit: True or False, or None where a figure a
        limit needs was not measured (and none measured breaks the budget)."""
        size = getattr(record, f"tflite_{self.deploy_dtype}_bytes", None)
        checks = ((self.max_kib, None if size is None else size / 1024),
                  (self.max_latency_ms, record.latency_ms), (self.max_params, record.params),
                  (self.max_macs, record.macs))
        missing = False
        for limit, value in checks:
            if limit is None:
                continue
            if value is None:
                missing = True
            elif value > limit:
                return False
        return None if missing else True
