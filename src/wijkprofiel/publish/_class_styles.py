"""How comparison classes look: Dutch labels, colours, non-colour marks, phrases per method."""

from __future__ import annotations

CLASS_ORDER = [
    "not_compared", "much_better", "better", "similar", "worse", "much_worse",
    "much_lower", "lower", "higher", "much_higher",
]


CLASS_LABELS_NL = {
    "not_compared": "geen vergelijking mogelijk",
    "much_better": "veel gunstiger", "better": "gunstiger", "similar": "vergelijkbaar",
    "worse": "ongunstiger", "much_worse": "veel ongunstiger",
    "much_lower": "veel lager", "lower": "lager", "higher": "hoger", "much_higher": "veel hoger",
}


# HP4All: unfavourable stands out (reds), similar is neutral, favourable is calm (blues);
# neutral-polarity indicators use a separate brown/teal scale so no judgement is implied
CLASS_COLORS = {
    "not_compared": "#d9d9d9", "much_better": "#2166ac", "better": "#92c5de", "similar": "#f7f7f7",
    "worse": "#f4a582", "much_worse": "#b2182b",
    "much_lower": "#01665e", "lower": "#80cdc1", "higher": "#dfc27d", "much_higher": "#8c510a",
}


#: grey of missing / suppressed areas (drawn with a hatch pattern on top)
MISSING_COLOR = "#d9d9d9"


#: text marks so a class is never shown by colour alone
CLASS_MARKS = {
    "not_compared": "?", "much_better": "++", "better": "+", "similar": "=", "worse": "−",
    "much_worse": "−−", "much_lower": "▼▼", "lower": "▼", "higher": "▲", "much_higher": "▲▲",
}


#: every ``comparisons.class_method`` (same order as ``wijkprofiel.compare.CLASS_METHODS``)
CLASS_METHODS = ["descriptive_z", "significance_95", "significance_99.8", "nested_z", "fdr_bh"]


SIGNIFICANCE_METHODS = frozenset(CLASS_METHODS[1:])


DESCRIPTIVE_NOTE = (
    "Beschrijvende klassen: het verschil gedeeld door de spreiding (standaarddeviatie) van "
    "gebieden van hetzelfde niveau; |z| ≤ 1 vergelijkbaar, 1–2 anders, > 2 veel anders. "
    "Er is geen onzekerheidsmarge bekend, dus dit is geen significantietoets."
)


def class_phrase(class_id: str, method: str, comparator: str) -> str:
    """A class in words, e.g. 'significant ongunstiger dan Nederland' or 'beschrijvend: …'.

    ``comparator`` is ``'nl'`` or ``'gemeente'``.
    """
    target = "Nederland" if comparator == "nl" else "de gemeente"
    if class_id == "not_compared" or class_id not in CLASS_LABELS_NL:
        return "geen vergelijking mogelijk"
    label = CLASS_LABELS_NL[class_id]
    core = f"vergelijkbaar met {target}" if class_id == "similar" else f"{label} dan {target}"
    if method in SIGNIFICANCE_METHODS:
        return f"niet significant verschillend van {target}" if class_id == "similar" else f"significant {core}"
    return f"beschrijvend: {core}"

#: title of a value withheld by disclosure control (profiles, buurt pages, key tables)
_SUPPRESSED_TITLE = "niet gepubliceerd: gebaseerd op te kleine aantallen (onthullingsbeveiliging)"
