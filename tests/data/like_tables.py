"""Small tables shaped like two public ones a teacher might upload (made here: nothing is downloaded).

- `LINNERUD`: the 20-row linnerud table (sklearn / UCI): integer body measurements
  (Weight, Waist, Pulse) and exercise counts (Chins, Situps, Jumps).
- `penguins_raw_csv()`: the full Palmer penguins table's shape: an ID column, a
  per-species sample number, long species names, dates, isotopes with a few
  missing values, and a free-text Comments column that is mostly missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LINNERUD = pd.DataFrame(
    {
        "Weight": [191, 189, 193, 162, 189, 182, 211, 167, 176, 154, 169, 166, 154, 247, 193, 202, 176, 157, 156, 138],
        "Waist": [36, 37, 38, 35, 35, 36, 38, 34, 31, 33, 34, 33, 34, 46, 36, 37, 37, 32, 33, 33],
        "Pulse": [50, 52, 58, 62, 46, 56, 56, 60, 74, 56, 50, 52, 64, 50, 46, 62, 54, 52, 54, 68],
        "Chins": [5, 2, 12, 12, 13, 4, 8, 6, 15, 17, 17, 13, 14, 1, 6, 12, 4, 11, 15, 2],
        "Situps": [162, 110, 101, 105, 155, 101, 101, 125, 200, 251, 120, 210, 215, 50, 70, 210, 60, 230, 225, 110],
        "Jumps": [60, 60, 101, 37, 58, 42, 38, 40, 40, 250, 38, 115, 105, 50, 31, 120, 25, 80, 73, 43],
    }
)

SPECIES = {
    "Adelie Penguin (Pygoscelis adeliae)": 152,
    "Gentoo penguin (Pygoscelis papua)": 124,
    "Chinstrap penguin (Pygoscelis antarctica)": 68,
}
COMMENTS = [
    "Nest never observed with full clutch.",
    "Not enough blood for isotopes.",
    "Sexing primers did not amplify.",
    "No blood sample obtained.",
    "No blood sample obtained for sexing.",
    "Adult not sampled.",
    "Adult not sampled. Nest never observed with full clutch.",
    "Nest never observed with full clutch. Not enough blood for isotopes.",
    "No delta15N data received from lab.",
    "Sexing primers did not amplify. Not enough blood for isotopes.",
]


def linnerud_csv() -> bytes:
    return LINNERUD.to_csv(index=False).encode()


def penguins_raw_frame(seed: int = 0) -> pd.DataFrame:
    """344 rows; missing: Comments 290, Delta 15 N 14, Delta 13 C 13, Sex 11, body measurements 2."""
    rng = np.random.default_rng(seed)
    species = [name for name, count in SPECIES.items() for _ in range(count)]
    number = [i + 1 for count in SPECIES.values() for i in range(count)]
    n = len(species)
    frame = pd.DataFrame(
        {
            "studyName": rng.choice(["PAL0708", "PAL0809", "PAL0910"], n),
            "Sample Number": number,
            "Species": species,
            "Region": "Anvers",
            "Island": rng.choice(["Torgersen", "Biscoe", "Dream"], n),
            "Stage": "Adult, 1 Egg Stage",
            # Nest k, adult 1 or 2: IDs repeat across species and years, as in the real table.
            "Individual ID": [f"N{(i % 95) + 1}A{i % 2 + 1}" for i in range(n)],
            "Clutch Completion": rng.choice(["Yes", "No"], n, p=[0.9, 0.1]),
            "Date Egg": [f"2008-11-{d:02d}" for d in rng.integers(1, 30, n)],
            "Culmen Length (mm)": np.round(rng.normal(44, 5, n), 1),
            "Culmen Depth (mm)": np.round(rng.normal(17, 2, n), 1),
            "Flipper Length (mm)": rng.integers(172, 231, n).astype(float),
            "Body Mass (g)": (rng.integers(54, 126, n) * 50).astype(float),
            "Sex": rng.choice(["MALE", "FEMALE"], n).astype(object),
            "Delta 15 N (o/oo)": np.round(rng.normal(8.7, 0.5, n), 5),
            "Delta 13 C (o/oo)": np.round(rng.normal(-25.7, 0.8, n), 5),
            "Comments": pd.Series([None] * n, dtype=object),
        }
    )
    frame.loc[[3, 339], ["Culmen Length (mm)", "Culmen Depth (mm)", "Flipper Length (mm)", "Body Mass (g)"]] = np.nan
    frame.loc[[3, 339, 8, 9, 10, 11, 47, 246, 286, 324, 336], "Sex"] = None  # 11
    isotopes = [3, 339, 0, 1, 8, 9, 10, 11, 12, 13, 14, 15, 39]  # 13
    frame.loc[isotopes, "Delta 13 C (o/oo)"] = np.nan
    frame.loc[[*isotopes, 43], "Delta 15 N (o/oo)"] = np.nan  # 14
    commented = rng.choice(np.arange(n), 54, replace=False)  # 290 missing
    frame.loc[commented, "Comments"] = [COMMENTS[i % len(COMMENTS)] for i in range(54)]
    return frame


def penguins_raw_csv() -> bytes:
    return penguins_raw_frame().to_csv(index=False).encode()
