"""Real datasets shipped with mtlviz (see bundled/README.md for sources and licences)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).with_name("bundled")


@dataclass(frozen=True)
class BundledDataset:
    name: str
    file: str
    title: str
    description: str
    targets: tuple[str, ...]  # the default tasks
    features: tuple[str, ...]  # the default inputs
    licence: str

    @property
    def path(self) -> Path:
        return FOLDER / self.file


BUNDLED = {
    d.name: d
    for d in [
        BundledDataset(
            "penguins",
            "penguins.csv",
            "Palmer penguins",
            "344 penguins from three islands: predict species, sex and body mass from bill and flipper "
            "measurements. Mixes classification and regression; 11 rows have missing values.",
            ("species", "sex", "body_mass_g"),
            ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"),
            "CC0 1.0 — Gorman, Williams & Fraser (2014), via the palmerpenguins package",
        ),
        BundledDataset(
            "wine",
            "wine.csv",
            "Wine (UCI)",
            "178 Italian wines: predict the cultivar, the alcohol content and the colour intensity from "
            "the other chemical measurements.",
            ("cultivar", "alcohol", "color_intensity"),
            (
                "malic_acid",
                "ash",
                "alcalinity_of_ash",
                "magnesium",
                "total_phenols",
                "flavanoids",
                "nonflavanoid_phenols",
                "proanthocyanins",
                "hue",
                "od280_od315",
                "proline",
            ),
            "CC BY 4.0 — UCI Machine Learning Repository (Forina et al.), via scikit-learn",
        ),
    ]
}
