"""`EpochEvent`: what the trainer tells its epoch hook after each epoch (plain data, no torch).

The trainer only fills it in; the runner decides where it goes (the progress display, Ray Tune's
reporting, the trial's epoch log, TensorBoard).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class EpochEvent:
    epoch: int  # 1-based, the epoch just trained
    epochs: int  # the config's `epochs`: the last epoch training may reach
    loss: float  # summed training loss of this epoch
    seconds: float  # training seconds of this epoch (validation excluded)
    elapsed: float  # seconds since training began, validations included
    metric: str  # the validation metric early stopping watches, e.g. "recall@20"
    valid: float | None  # its value after this epoch; None when no validation ran after it
    best: float | None  # the best value so far; None before the first validation
    best_epoch: int | None
    stop_by: int  # the epoch early stopping ends training at if validation never improves again
    valid_metrics: dict[str, float] = field(default_factory=dict)  # every validation metric; {} when none ran

    @property
    def seconds_per_epoch(self) -> float:
        """Wall seconds per epoch so far, validations included."""
        return self.elapsed / max(self.epoch, 1)

    @property
    def eta_s(self) -> float:
        """Seconds left until `stop_by` (early stopping, if validation stops improving now)."""
        return self.seconds_per_epoch * max(self.stop_by - self.epoch, 0)

    @property
    def eta_max_s(self) -> float:
        """Seconds left until the config's last epoch (no early stop)."""
        return self.seconds_per_epoch * max(self.epochs - self.epoch, 0)

    def as_dict(self) -> dict:
        """JSON values only: an epoch log line, a Ray Tune result."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EpochEvent:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})
