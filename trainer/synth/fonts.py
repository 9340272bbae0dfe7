"""Font families a fresh install has: DejaVu and STIX ship inside matplotlib's wheel; the condensed, narrow and
Courier-like faces of invoices and till slips come from Debian's fonts-dejavu-extra and fonts-liberation,
Japanese from Debian's IPAex fonts, Chinese from WenQuanYi Micro Hei (a hei face) and AR PL UMing (a Ming face).
`make fonts` (part of `make setup`) installs the Debian packages."""

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import matplotlib
from fontTools.ttLib import TTFont
from PIL import ImageFont

_MPL = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_DEBIAN = Path("/usr/share/fonts")
_DEJAVU, _LIBERATION = _DEBIAN / "truetype" / "dejavu", _DEBIAN / "truetype" / "liberation"
_IPAEX = _DEBIAN / "opentype"
PACKAGES = (
    "fonts-dejavu-extra fonts-liberation fonts-ipaexfont-gothic fonts-ipaexfont-mincho fonts-wqy-microhei "
    "fonts-arphic-uming"
)

# family -> (regular, bold) files. Japanese fonts have no bold face: bold is drawn with a stroke instead.
FAMILIES = {
    "sans": (_MPL / "DejaVuSans.ttf", _MPL / "DejaVuSans-Bold.ttf"),
    "serif": (_MPL / "DejaVuSerif.ttf", _MPL / "DejaVuSerif-Bold.ttf"),
    "mono": (_MPL / "DejaVuSansMono.ttf", _MPL / "DejaVuSansMono-Bold.ttf"),
    "stix": (_MPL / "STIXGeneral.ttf", _MPL / "STIXGeneralBol.ttf"),
    "condensed": (_DEJAVU / "DejaVuSansCondensed.ttf", _DEJAVU / "DejaVuSansCondensed-Bold.ttf"),
    "serif-condensed": (_DEJAVU / "DejaVuSerifCondensed.ttf", _DEJAVU / "DejaVuSerifCondensed-Bold.ttf"),
    "arial": (_LIBERATION / "LiberationSans-Regular.ttf", _LIBERATION / "LiberationSans-Bold.ttf"),
    "times": (_LIBERATION / "LiberationSerif-Regular.ttf", _LIBERATION / "LiberationSerif-Bold.ttf"),
    "narrow": (_LIBERATION / "LiberationSansNarrow-Regular.ttf", _LIBERATION / "LiberationSansNarrow-Bold.ttf"),
    "courier": (_LIBERATION / "LiberationMono-Regular.ttf", _LIBERATION / "LiberationMono-Bold.ttf"),
    "gothic": (_IPAEX / "ipaexfont-gothic" / "ipaexg.ttf", None),
    "mincho": (_IPAEX / "ipaexfont-mincho" / "ipaexm.ttf", None),
    "hei": (_DEBIAN / "truetype" / "wqy" / "wqy-microhei.ttc", None),
    "ming": (_DEBIAN / "truetype" / "arphic" / "uming.ttc", None),
}
# Invoices: sans, serif, condensed and monospace faces. Till slips: the narrow and monospace faces receipt printers
# carry, and a plain sans. Dot-matrix printers print a monospace face (see print_effects.py).
INVOICE_FAMILIES = ("sans", "serif", "mono", "stix", "condensed", "serif-condensed", "arial", "times", "courier")
RECEIPT_FAMILIES = ("sans", "mono", "condensed", "narrow", "courier", "arial")
MONOSPACED = ("mono", "courier")
CJK = {"ja": ("gothic", "mincho"), "zh": ("hei", "ming")}  # these faces have Latin letters too


def families_for(languages: str | Iterable[str], doc_type: str = "invoice") -> tuple[str, ...]:
    """The faces a page in these languages can be set in: a Japanese or Chinese one where it has that script."""
    languages = (languages,) if isinstance(languages, str) else tuple(languages)
    if cjk := [CJK[language] for language in languages if language in CJK]:
        return cjk[0]
    return RECEIPT_FAMILIES if doc_type == "receipt" else INVOICE_FAMILIES


@cache
def _code_points(family: str) -> frozenset[int]:
    return frozenset(TTFont(str(FAMILIES[family][0]), fontNumber=0, lazy=True).getBestCmap())


def has_glyphs(family: str, text: str) -> bool:
    """Whether the family's regular face draws every character of `text` (STIX and Liberation lack `₹`)."""
    return all(ord(char) in _code_points(family) for char in text if not char.isspace())


def missing_fonts(languages: set[str]) -> list[str]:
    """Font files that pages in these languages need but this machine lacks."""
    families = {
        family for language in languages for kind in ("invoice", "receipt") for family in families_for(language, kind)
    }
    return [str(FAMILIES[family][0]) for family in sorted(families) if not FAMILIES[family][0].exists()]


@cache
def font(family: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    regular, bold_file = FAMILIES[family]
    path = bold_file if bold and bold_file else regular
    if not path.exists():
        raise FileNotFoundError(f"font {path} is missing: install Debian's {PACKAGES} (make fonts)")
    return ImageFont.truetype(str(path), size)


def fake_bold(family: str, bold: bool) -> int:
    """Stroke width that stands in for a bold face the family lacks."""
    return 1 if bold and FAMILIES[family][1] is None else 0
