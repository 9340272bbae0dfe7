"""Font families a fresh install has: DejaVu and STIX ship inside matplotlib's wheel; Japanese needs Debian's
IPAex fonts (`apt-get install fonts-ipaexfont-gothic fonts-ipaexfont-mincho`, which `make setup` runs)."""

from functools import cache
from pathlib import Path

import matplotlib
from PIL import ImageFont

_MPL = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_IPAEX = Path("/usr/share/fonts/opentype")

# family -> (regular, bold) files. Japanese fonts have no bold face: bold is drawn with a stroke instead.
FAMILIES = {
    "sans": (_MPL / "DejaVuSans.ttf", _MPL / "DejaVuSans-Bold.ttf"),
    "serif": (_MPL / "DejaVuSerif.ttf", _MPL / "DejaVuSerif-Bold.ttf"),
    "mono": (_MPL / "DejaVuSansMono.ttf", _MPL / "DejaVuSansMono-Bold.ttf"),
    "stix": (_MPL / "STIXGeneral.ttf", _MPL / "STIXGeneralBol.ttf"),
    "gothic": (_IPAEX / "ipaexfont-gothic" / "ipaexg.ttf", None),
    "mincho": (_IPAEX / "ipaexfont-mincho" / "ipaexm.ttf", None),
}
LATIN = ("sans", "serif", "mono", "stix")
JAPANESE = ("gothic", "mincho")


def families_for(language: str) -> tuple[str, ...]:
    return JAPANESE if language == "ja" else LATIN


def missing_fonts(languages: set[str]) -> list[str]:
    """Font files that pages in these languages need but this machine lacks."""
    families = {family for language in languages for family in families_for(language)}
    return [str(FAMILIES[family][0]) for family in sorted(families) if not FAMILIES[family][0].exists()]


@cache
def font(family: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    regular, bold_file = FAMILIES[family]
    path = bold_file if bold and bold_file else regular
    if not path.exists():
        raise FileNotFoundError(
            f"font {path} is missing: install Debian's fonts-ipaexfont-gothic and fonts-ipaexfont-mincho (make setup)"
        )
    return ImageFont.truetype(str(path), size)


def fake_bold(family: str, bold: bool) -> int:
    """Stroke width that stands in for a bold face the family lacks."""
    return 1 if bold and FAMILIES[family][1] is None else 0
