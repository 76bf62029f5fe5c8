"""Georgia's mobile operators, as the gateway names them.

phonenumbers' carrier data names the operator that was allocated a number block. Those names
change with rebrandings and differ from the names clients know, so they are normalised for
Georgian numbers: MagtiCom is Magti; Beeline Georgia (the company Mobitel, once part of VEON)
was renamed Cellfie in 2020; Geocell became part of Silknet. Older releases of the data use the
old names. Other Georgian carriers in the data (MVNOs such as Globalcell) keep the name
phonenumbers gives.

The name is the block's operator, not necessarily the subscriber's: Georgia has had mobile
number portability since 2011, so a ported number keeps its original operator here. Use it
for statistics and hints, and let the SMSC route.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["CELLFIE", "MAGTI", "SILKNET", "operator_name"]

MAGTI = "Magti"
SILKNET = "Silknet"
CELLFIE = "Cellfie"

# Keys are case-folded carrier names, current and historical.
_GEORGIAN_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "magti": MAGTI,
        "magticom": MAGTI,
        "silknet": SILKNET,
        "geocell": SILKNET,
        "cellfie": CELLFIE,
        "beeline": CELLFIE,
        "mobitel": CELLFIE,
        "veon": CELLFIE,
    }
)


def operator_name(region: str, carrier_name: str) -> str | None:
    """The operator name to show for a carrier name from phonenumbers' carrier data.

    For Georgian numbers ("GE") a known name, in any case, becomes Magti, Silknet or Cellfie;
    the aliases are applied only there because "Beeline" elsewhere is another company. An
    unknown name is returned stripped but otherwise unchanged, and an empty one (a block the
    data does not cover) gives None.
    """
    name = carrier_name.strip()
    if not name:
        return None
    if region == "GE":
        return _GEORGIAN_ALIASES.get(name.casefold(), name)
    return name
