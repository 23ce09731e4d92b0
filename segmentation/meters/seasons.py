"""Which months are winter and summer: they follow the hemisphere of the meters' time zone.

The hemisphere comes from the zone's latitude in the IANA table
``zone1970.tab`` (shipped with the ``tzdata`` package, else the system's; an
old name such as Australia/Queensland takes the latitude of the zone it links
to, from ``tzdata.zi``), else from its daylight-saving rule (a zone whose clocks are ahead in January
observes summer time then: southern), else it is unknown and the north is
assumed and said so. ``--hemisphere`` overrides all of this.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

Hemisphere = Literal["north", "south"]
SEASON_MONTHS = {"north": {"winter": (12, 1, 2), "summer": (6, 7, 8)},
                 "south": {"winter": (6, 7, 8), "summer": (12, 1, 2)}}
_SYSTEM_TABLES = [Path("/usr/share/zoneinfo/zone1970.tab"), Path("/usr/share/zoneinfo/zone.tab")]
_SYSTEM_LINKS = [Path("/usr/share/zoneinfo/tzdata.zi")]


def winter_months(hemisphere: Hemisphere) -> tuple[int, ...]:
    return SEASON_MONTHS[hemisphere]["winter"]


def summer_months(hemisphere: Hemisphere) -> tuple[int, ...]:
    return SEASON_MONTHS[hemisphere]["summer"]


def _latitude(coordinates: str) -> float:
    """'+513030-0000731' or '-3352+15113' (ISO 6709: +-DDMM[SS] then the longitude) ->
    latitude in degrees. The minutes count: Pontianak, 0 deg 2' S, is southern."""
    digits = coordinates[1:1 + next(i for i, c in enumerate(coordinates[1:]) if c in "+-")]
    degrees = float(digits[:2]) + float(digits[2:4]) / 60 + float(digits[4:6] or 0) / 3600
    return -degrees if coordinates[0] == "-" else degrees


@lru_cache(maxsize=1)
def zone_latitudes() -> dict[str, float]:
    """Zone name -> latitude from every zone table found (tzdata package first)."""
    texts = []
    try:
        from importlib.resources import files
        for name in ("zone1970.tab", "zone.tab"):
            texts.append(files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8"))
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        pass
    texts += [p.read_text(encoding="utf-8") for p in _SYSTEM_TABLES if p.is_file()]
    latitudes: dict[str, float] = {}
    for text in texts:
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) >= 3:
                latitudes.setdefault(fields[2], _latitude(fields[1]))
    for target, link in zone_links():          # old names: their zone's latitude
        if target in latitudes:
            latitudes.setdefault(link, latitudes[target])
    return latitudes


def zone_links() -> list[tuple[str, str]]:
    """(zone, old name) of every link line ("L Australia/Brisbane Australia/Queensland") of
    the compiled zone data, the tzdata package's first, else the system's."""
    try:
        from importlib.resources import files
        texts = [files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8")]
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        texts = [p.read_text(encoding="utf-8") for p in _SYSTEM_LINKS if p.is_file()]
    return [(fields[1], fields[2]) for text in texts for line in text.splitlines()
            if (fields := line.split()) and fields[0] == "L" and len(fields) == 3]


def hemisphere_of(timezone: str) -> tuple[Hemisphere, str]:
    """The hemisphere of an IANA zone and how it was found (for the manifest)."""
    latitude = zone_latitudes().get(timezone)
    if latitude is not None:
        side: Hemisphere = "south" if latitude < 0 else "north"
        return side, f"from the latitude of {timezone} ({latitude:+.1f} degrees)"
    zone = ZoneInfo(timezone)
    january = zone.utcoffset(datetime(2024, 1, 15))
    july = zone.utcoffset(datetime(2024, 7, 15))
    if january != july:
        side = "south" if january > july else "north"
        return side, f"from the daylight-saving rule of {timezone} (summer time in " \
                     f"{'January' if side == 'south' else 'July'})"
    return "north", f"assumed: {timezone} gives no hemisphere (pass --hemisphere)"


def resolve_hemisphere(timezone: str, hemisphere: str | None) -> tuple[Hemisphere, str]:
    """``hemisphere`` when given ('north'/'south'), else from the time zone."""
    if hemisphere in ("north", "south"):
        return hemisphere, "given (--hemisphere)"  # type: ignore[return-value]
    return hemisphere_of(timezone)
