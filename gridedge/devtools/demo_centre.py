"""The demo's grid centre: units and dispatch rules so every case can go all six steps, an officer at
each level of the grid tree, and the grid map of the demo's community (nine cells around Grid 7).

The map is generated here and written beside the demo's database; `examples/demo-grid.geojson` is the
same file (a test keeps them equal), for a centre configured by hand."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from gridedge.center.access import Role
from gridedge.center.policy import Policy
from gridedge.center.settings import DEMO_LOGIN, OfficerSeed, demo_officer

COMMUNITY = ("D01", "S03", "C12")
DEMO_PASSWORD = DEMO_LOGIN[1]
ORIGIN = (116.360, 39.940)
CELL_DEG = 0.004

DEMO_POLICY = Policy.model_validate(
    {
        "levels": {"fire_safety": "community"},
        "default_time_limits_s": {"reported": 900, "filed": 1800, "dispatched": 7200, "handled": 1800},
        "units": [
            {"code": "grid-g07", "name": "第7网格员 Grid 7 officers", "jurisdiction": [*COMMUNITY, "G07"]},
            {"code": "fire-s03", "name": "滨河消防站 Riverside fire station", "jurisdiction": list(COMMUNITY[:2])},
            {"code": "um-s03", "name": "滨河城管中队 Riverside urban management", "jurisdiction": list(COMMUNITY[:2])},
        ],
        "dispatch": [
            {"category": "fire_safety", "unit": "fire-s03"},
            {"category": "street_order", "unit": "um-s03"},
            {"category": "device", "unit": "grid-g07"},
        ],
    }
)


def demo_officers() -> list[OfficerSeed]:
    """The admin (DEMO_LOGIN) and one officer per level over Grid 7, all with the demo password."""
    levels = [
        ("grid7", "王网格 Wang (grid 7)", Role.GRID, (*COMMUNITY, "G07")),
        ("willow", "柳社区 Liu (Willow community)", Role.COMMUNITY, COMMUNITY),
        ("riverside", "赵街道 Zhao (Riverside street)", Role.STREET, COMMUNITY[:2]),
        ("district1", "钱区 Qian (district D01)", Role.DISTRICT, COMMUNITY[:1]),
    ]
    return [demo_officer()] + [
        OfficerSeed(username=u, name=n, role=r, jurisdiction=j, password=SecretStr(DEMO_PASSWORD))
        for u, n, r, j in levels
    ]


def demo_grid_map() -> dict[str, object]:
    """Nine square cells, Grid 1 to Grid 9 of Willow Community, three by three."""
    features = []
    for i in range(9):
        row, col = divmod(i, 3)
        x, y = ORIGIN[0] + col * CELL_DEG, ORIGIN[1] - row * CELL_DEG
        corners = [(x, y), (x + CELL_DEG, y), (x + CELL_DEG, y - CELL_DEG), (x, y - CELL_DEG), (x, y)]
        features.append(
            {
                "type": "Feature",
                "properties": {"grid": "/".join((*COMMUNITY, f"G{i + 1:02d}")), "name": f"第{i + 1}网格 Grid {i + 1}"},
                "geometry": {"type": "Polygon", "coordinates": [[[round(a, 4), round(b, 4)] for a, b in corners]]},
            }
        )
    return {"type": "FeatureCollection", "name": "Willow Community (demo) 柳树社区 grid cells", "features": features}


def write_demo_grid_map(path: Path) -> Path:
    text = json.dumps(demo_grid_map(), ensure_ascii=False).replace('{"type": "Feature"', '\n{"type": "Feature"')
    path.write_text(text + "\n", encoding="utf-8")
    return path
