"""Where things are: the grid tree (district > street > community > grid) and a site's location."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from gridedge.edge.config import StrictModel

# Codes appear as MQTT topic levels, so they may not hold '/', '+', '#' or spaces.
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Topic-safe code.")]


class Level(StrEnum):
    """Handling levels, lowest first: small things stay in the grid, hard ones go to the district."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"


class GridUnit(StrictModel):
    code: Code
    name: str = ""


class GridCell(StrictModel):
    """The four levels of the grid tree that own a place."""

    district: GridUnit
    street: GridUnit
    community: GridUnit
    grid: GridUnit

    def codes(self) -> tuple[str, str, str, str]:
        return (self.district.code, self.street.code, self.community.code, self.grid.code)


class Location(StrictModel):
    site: str = Field(description="Human name of the place, e.g. 'No. 3 e-bike shed'.")
    address: str = ""
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    floor: str | None = None
    zone: str | None = None
