"""Measurement kinds, their canonical units and unit conversion.

A small explicit table rather than `pint`: the conversions needed are few and
fixed (kg/lb, mmol/L and mg/dL, degrees C/F, hours/minutes), and the glucose one
depends on glucose's molar mass, which pint would need a custom context for. Each
unit is an affine map to its kind's canonical unit: canonical = value * scale + offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# mg/dL per mmol/L of glucose: molar mass 180.156 g/mol divided by 10 (dL per L).
GLUCOSE_MG_DL_PER_MMOL_L = 18.0156
POUND_KG = 0.45359237  # exact, by definition
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_CUSTOM_UNIT = 24


@dataclass(frozen=True)
class Unit:
    name: str  # as shown to the user
    scale: float = 1.0
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.scale + self.offset

    def from_canonical(self, value: float) -> float:
        return (value - self.offset) / self.scale

    def rate_from_canonical(self, rate: float) -> float:
        """A change per unit of time (a slope) has no offset."""
        return rate / self.scale


@dataclass(frozen=True)
class Kind:
    name: str
    canonical: str
    units: dict[str, Unit]  # keyed by normalised spelling
    low: float  # plausible range, in the canonical unit
    high: float
    integer: bool = False

    @property
    def unit_names(self) -> list[str]:
        return list(dict.fromkeys(u.name for u in self.units.values()))


def _units(*entries: tuple[Unit, tuple[str, ...]]) -> dict[str, Unit]:
    table: dict[str, Unit] = {}
    for unit, spellings in entries:
        for spelling in (unit.name, *spellings):
            table[normalise_unit(spelling)] = unit
    return table


def normalise_unit(text: str) -> str:
    """Case, spaces and the degree sign do not matter: 'mg/dl', 'MG / dL', '°F' and 'f' all match."""
    return re.sub(r"[\s°º]", "", text).lower()


KG = Unit("kg")
MMHG = Unit("mmHg")
BPM = Unit("bpm")
MMOL = Unit("mmol/L")
CELSIUS = Unit("°C")
HOURS = Unit("h")
STEPS = Unit("steps")

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "weight",
            "kg",
            _units((KG, ("kilogram", "kilograms", "kgs")), (Unit("lb", POUND_KG), ("lbs", "pound", "pounds"))),
            1,
            500,
        ),
        Kind("blood_pressure", "mmHg", _units((MMHG, ("mm hg",))), 20, 300, integer=True),
        Kind("heart_rate", "bpm", _units((BPM, ("/min", "beats/min"))), 20, 300, integer=True),
        Kind(
            "glucose", "mmol/L", _units((MMOL, ("mmol",)), (Unit("mg/dL", 1 / GLUCOSE_MG_DL_PER_MMOL_L), ())), 0.5, 50
        ),
        Kind(
            "temperature",
            "°C",
            _units((CELSIUS, ("c", "celsius")), (Unit("°F", 5 / 9, -32 * 5 / 9), ("f", "fahrenheit"))),
            25,
            45,
        ),
        Kind("sleep", "h", _units((HOURS, ("hours", "hour", "hr", "hrs")), (Unit("min", 1 / 60), ("minutes",))), 0, 24),
        Kind("steps", "steps", _units((STEPS, ("step",))), 0, 300_000, integer=True),
    )
}
# Blood pressure: the diastolic value's own plausible range (systolic uses the kind's).
DIASTOLIC_LOW, DIASTOLIC_HIGH = 10, 250


def is_builtin(kind: str) -> bool:
    return kind in KINDS


def find_unit(kind: str, unit: str | None) -> Unit | None:
    """The unit of a built-in kind (None = its canonical one); None when the kind does not know it."""
    spec = KINDS[kind]
    if unit is None:
        return spec.units[normalise_unit(spec.canonical)]
    return spec.units.get(normalise_unit(unit))


def in_range(kind: str, canonical_value: float) -> bool:
    spec = KINDS[kind]
    return spec.low <= canonical_value <= spec.high
