"""The indicator registry: every indicator defined once.

Each indicator has a stable snake_case id, a Dutch label, a unit, its source, a theme and a
polarity ('higher_is_worse', 'higher_is_better', 'neutral'). Sources map their own column
keys (CBS/RIVM topic keys without the positional ``_N`` suffix) onto these ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = [
    "Indicator",
    "POLARITIES",
    "THEMES",
    "POPULATION_GROUPS",
    "INDICATORS",
    "RIVM_KEYS",
    "get_indicator",
    "indicator_table",
]

POLARITIES = ("higher_is_worse", "higher_is_better", "neutral")

#: theme id -> Dutch label, in display order
THEMES: dict[str, str] = {
    "gezondheid": "Gezondheid",
    "leefstijl": "Leefstijl",
    "psychisch_welbevinden": "Psychisch welbevinden",
    "sociaal": "Sociaal",
    "sociaaleconomisch_leefomgeving": "Sociaaleconomisch en leefomgeving",
    "zorggebruik": "Zorggebruik",
    "bevolking": "Bevolking",
}

#: population group id -> Dutch label
POPULATION_GROUPS: dict[str, str] = {
    "18+": "18 jaar of ouder",
    "18-64": "18 tot 65 jaar",
    "65+": "65 jaar of ouder",
    "totaal": "Alle leeftijden",
}


@dataclass(frozen=True)
class Indicator:
    """One indicator: stable id, Dutch label, unit, source, theme, polarity."""

    indicator_id: str
    label_nl: str
    unit: str
    source: str
    theme: str
    polarity: str
    source_key: str = ""
    comparable: bool = True
    description_nl: str = ""


def _rivm(indicator_id: str, key: str, label: str, theme: str, polarity: str, description: str = "") -> Indicator:
    return Indicator(indicator_id, label, "%", "rivm_gezondheidsmonitor", theme, polarity, key, True, description)


_W, _B, _N = "higher_is_worse", "higher_is_better", "neutral"

_RIVM: tuple[Indicator, ...] = (
    _rivm("ervaren_gezondheid_goed", "ErvarenGezondheidGoedZeerGoed", "Ervaren gezondheid (zeer) goed", "gezondheid", _B),
    _rivm("voldoet_beweegrichtlijn", "VoldoetAanBeweegrichtlijn", "Voldoet aan beweegrichtlijn", "leefstijl", _B),
    _rivm("wekelijkse_sporters", "WekelijkseSporters", "Wekelijkse sporters", "leefstijl", _B),
    _rivm("ondergewicht", "Ondergewicht", "Ondergewicht", "leefstijl", _W),
    _rivm("normaal_gewicht", "NormaalGewicht", "Normaal gewicht", "leefstijl", _B),
    _rivm("overgewicht", "Overgewicht", "Overgewicht", "leefstijl", _W),
    _rivm("ernstig_overgewicht", "ErnstigOvergewicht", "Ernstig overgewicht (obesitas)", "leefstijl", _W),
    _rivm("roker", "Roker", "Roker", "leefstijl", _W),
    _rivm("voldoet_alcoholrichtlijn", "VoldoetAanAlcoholRichtlijn", "Voldoet aan alcoholrichtlijn", "leefstijl", _B),
    _rivm("drinker", "Drinker", "Drinker", "leefstijl", _N),
    _rivm("zware_drinker", "ZwareDrinker", "Zware drinker", "leefstijl", _W),
    _rivm("overmatige_drinker", "OvermatigeDrinker", "Overmatige drinker", "leefstijl", _W),
    _rivm("langdurige_aandoening", "EenOfMeerLangdurigeAandoeningen", "Eén of meer langdurige aandoeningen", "gezondheid", _W),
    _rivm("beperkt_vanwege_gezondheid", "BeperktVanwegeGezondheid", "Beperkt vanwege gezondheid", "gezondheid", _W),
    _rivm("ernstig_beperkt_vanwege_gezondheid", "ErnstigBeperktVanwegeGezondheid", "Ernstig beperkt vanwege gezondheid", "gezondheid", _W),
    _rivm("langdurige_ziekte_en_beperkt", "LangdurigeZiekteEnBeperkt", "Langdurige ziekte en beperkt", "gezondheid", _W),
    _rivm("lichamelijke_beperking", "EenOfMeerLichamelijkeBeperkingen", "Eén of meer lichamelijke beperkingen", "gezondheid", _W),
    _rivm("beperking_horen", "BeperkingInHoren", "Beperking in horen", "gezondheid", _W),
    _rivm("beperking_zien", "BeperkingInZien", "Beperking in zien", "gezondheid", _W),
    _rivm("beperking_bewegen", "BeperkingInBewegen", "Beperking in bewegen", "gezondheid", _W),
    _rivm("risico_angst_depressie_matig_hoog", "MatigHoogRisicoOpAngstOfDepressie", "Matig of hoog risico op angststoornis of depressie", "psychisch_welbevinden", _W),
    _rivm("risico_angst_depressie_hoog", "HoogRisicoOpAngstOfDepressie", "Hoog risico op angststoornis of depressie", "psychisch_welbevinden", _W),
    _rivm("heel_veel_stress", "HeelVeelStressInAfgelopen4Weken", "Heel veel stress in afgelopen 4 weken", "psychisch_welbevinden", _W),
    _rivm("regie_over_eigen_leven", "MatigVeelRegieOverEigenLeven", "Matig of veel regie over eigen leven", "psychisch_welbevinden", _B),
    _rivm("eenzaam", "Eenzaam", "Eenzaam", "sociaal", _W),
    _rivm("ernstig_eenzaam", "ErnstigZeerErnstigEenzaam", "Ernstig of zeer ernstig eenzaam", "sociaal", _W),
    _rivm("emotioneel_eenzaam", "EmotioneelEenzaam", "Emotioneel eenzaam", "sociaal", _W),
    _rivm("sociaal_eenzaam", "SociaalEenzaam", "Sociaal eenzaam", "sociaal", _W),
    _rivm("mantelzorger", "Mantelzorger", "Mantelzorger", "sociaal", _N),
    _rivm("vrijwilligerswerk", "Vrijwilligerswerk", "Vrijwilligerswerk", "sociaal", _B),
    _rivm("lopen_of_fietsen_naar_werk", "LopenEnOfFietsenNaarSchoolOfWerk", "Lopen en/of fietsen naar school of werk", "leefstijl", _B),
    _rivm("lopen_naar_werk", "LopenNaarSchoolOfWerk", "Lopen naar school of werk", "leefstijl", _B),
    _rivm("fietsen_naar_werk", "FietsenNaarSchoolOfWerk", "Fietsen naar school of werk", "leefstijl", _B),
    _rivm("geluidhinder_buren", "ErnstigeGeluidhinderDoorBuren", "Ernstige geluidhinder door buren", "sociaaleconomisch_leefomgeving", _W),
    _rivm("moeite_met_rondkomen", "MoeiteMetRondkomen", "Moeite met rondkomen", "sociaaleconomisch_leefomgeving", _W),
)

_KWB: tuple[Indicator, ...] = (
    Indicator("aantal_inwoners", "Aantal inwoners", "aantal", "cbs_kwb", "bevolking", _N, "AantalInwoners", False),
    Indicator("pct_0_14", "Inwoners 0 tot 15 jaar", "%", "cbs_kwb", "bevolking", _N, "k_0Tot15Jaar"),
    Indicator("pct_15_24", "Inwoners 15 tot 25 jaar", "%", "cbs_kwb", "bevolking", _N, "k_15Tot25Jaar"),
    Indicator("pct_25_44", "Inwoners 25 tot 45 jaar", "%", "cbs_kwb", "bevolking", _N, "k_25Tot45Jaar"),
    Indicator("pct_45_64", "Inwoners 45 tot 65 jaar", "%", "cbs_kwb", "bevolking", _N, "k_45Tot65Jaar"),
    Indicator("pct_65plus", "Inwoners 65 jaar of ouder", "%", "cbs_kwb", "bevolking", _N, "k_65JaarOfOuder"),
    Indicator("pct_herkomst_europa", "Herkomstland Europa (excl. Nederland)", "%", "cbs_kwb", "sociaaleconomisch_leefomgeving", _N, "EuropaExclusiefNederland"),
    Indicator("pct_herkomst_buiten_europa", "Herkomstland buiten Europa", "%", "cbs_kwb", "sociaaleconomisch_leefomgeving", _N, "BuitenEuropa"),
)

_VEKTIS: tuple[Indicator, ...] = (
    Indicator("zvw_kosten_totaal", "Zvw-kosten per verzekerdejaar (totaal)", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "totaal"),
    Indicator("zvw_kosten_huisarts", "Huisartsenzorg per verzekerdejaar", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "huisarts"),
    Indicator("zvw_kosten_farmacie", "Farmacie per verzekerdejaar", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "farmacie"),
    Indicator("zvw_kosten_msz", "Medisch-specialistische zorg per verzekerdejaar", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "medisch_specialistische_zorg"),
    Indicator("zvw_kosten_ggz", "Geestelijke gezondheidszorg per verzekerdejaar", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "ggz"),
    Indicator("zvw_kosten_wijkverpleging", "Verpleging en verzorging per verzekerdejaar", "euro per verzekerdejaar", "vektis_zvw", "zorggebruik", _N, "verpleging_en_verzorging"),
)

def _standardised(ind: Indicator, kind: str) -> Indicator:
    base = ind.label_nl.replace(" per verzekerdejaar", "")
    if kind == "isr":
        label = f"{base}, indirect gestandaardiseerd naar leeftijd en geslacht (index, Nederland = 100)"
        unit = "index (Nederland = 100)"
    else:
        label = f"{base} per verzekerdejaar, direct gestandaardiseerd naar leeftijd en geslacht"
        unit = "euro per verzekerdejaar"
    return Indicator(f"{ind.indicator_id}_{kind}", label, unit, "vektis_zvw_standardised", ind.theme,
                     ind.polarity, f"{ind.source_key}_{kind}")


#: age × sex standardised Vektis costs (wijkprofiel.compare standardisation); no variance: descriptive only
_VEKTIS_STD: tuple[Indicator, ...] = tuple(_standardised(ind, kind) for ind in _VEKTIS for kind in ("isr", "dsr"))

INDICATORS: tuple[Indicator, ...] = _RIVM + _KWB + _VEKTIS + _VEKTIS_STD

#: RIVM topic key (without ``_N`` suffix) -> indicator id
RIVM_KEYS: dict[str, str] = {ind.source_key: ind.indicator_id for ind in _RIVM}

_BY_ID = {ind.indicator_id: ind for ind in INDICATORS}


def get_indicator(indicator_id: str) -> Indicator:
    """Return the indicator with this id; raise KeyError naming the valid ids otherwise."""
    try:
        return _BY_ID[indicator_id]
    except KeyError:
        msg = f"unknown indicator_id {indicator_id!r}; valid ids: {', '.join(sorted(_BY_ID))}"
        raise KeyError(msg) from None


def indicator_table(extra: Sequence[Indicator] = ()) -> pd.DataFrame:
    """The registry (plus ``extra`` indicators, e.g. from own extracts) as the DuckDB
    ``indicators`` table. An extra id that clashes with the registry raises KeyError."""
    clash = sorted({ind.indicator_id for ind in extra} & set(_BY_ID))
    if clash:
        msg = f"extract indicator ids {clash} clash with built-in indicators; choose other ids"
        raise KeyError(msg)
    rows = [
        {
            "indicator_id": ind.indicator_id,
            "label_nl": ind.label_nl,
            "unit": ind.unit,
            "source": ind.source,
            "theme": ind.theme,
            "polarity": ind.polarity,
            "comparable": ind.comparable,
            "source_key": ind.source_key,
            "sort_order": i,
        }
        for i, ind in enumerate((*INDICATORS, *extra))
    ]
    return pd.DataFrame(rows)
