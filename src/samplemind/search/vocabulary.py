"""The words producers use, mapped to one search term per kind of sound.

Built on the filename-hint vocabulary (``analysis.hints.CATEGORY_SYNONYMS``) and applied
to the indexed text and to queries alike, so "bd" finds a file named "Kick 01" and
"kick" finds "BD_01.wav". Broader terms are indexed too: a closed or open hat is also a
"hat", a crash or ride also a "cymbal", a drum or melodic loop also a "loop".

The category names are the classifier's taxonomy (``analysis.classify.TAXONOMY``:
``closed_hat``, ``open_hat``, ``crash``, ``ride``, ``tom``, ``drum_loop`` ...); in the
text they are written without the underscore (``closedhat``). :func:`categories_for`
maps the same words to taxonomy names for the ``category=`` filter, so
``category=bd`` is ``kick`` and ``category=hat`` is both hats.
"""

from __future__ import annotations

from collections.abc import Iterable

from samplemind.analysis.classify import TAXONOMY
from samplemind.analysis.hints import CATEGORY_SYNONYMS

SEARCH_GROUPS: dict[str, tuple[str, ...]] = {
    "hat": ("hat", "hats", "hh", "hhs", "hihat", "hihats"),
    "cymbal": ("cymbal", "cymbals", "cym"),
    "loop": ("loop", "loops", "break", "breaks", "groove", "grooves"),
    "oneshot": ("oneshot", "oneshots", "hit", "hits"),
}
BROADER_TERMS: dict[str, tuple[str, ...]] = {
    "closedhat": ("hat",),
    "openhat": ("hat",),
    "crash": ("cymbal",),
    "ride": ("cymbal",),
    "drumloop": ("loop",),
    "melodicloop": ("loop",),
}
GROUP_CATEGORIES: dict[str, tuple[str, ...]] = {
    "hat": ("closed_hat", "open_hat"),
    "cymbal": ("crash", "ride"),
    "loop": ("drum_loop", "melodic_loop"),
}
"""Search groups that stand for several categories in the ``category=`` filter."""


def _term(category: str) -> str:
    return category.replace("_", "")


def _canonical_map() -> dict[str, str]:
    mapping = {
        word: _term(category) for category, words in CATEGORY_SYNONYMS.items() for word in words
    }
    mapping.update(
        {_term(category): _term(category) for category in (*CATEGORY_SYNONYMS, *TAXONOMY)}
    )
    mapping.update({word: group for group, words in SEARCH_GROUPS.items() for word in words})
    return mapping


_CANONICAL = _canonical_map()


def canonical(word: str) -> str | None:
    """The search term for ``word`` ("bd" → "kick", "closed_hat" → "closedhat")."""
    word = word.lower()
    return _CANONICAL.get(word) or _CANONICAL.get(_term(word))


_CATEGORY_OF_TERM = {_term(category): category for category in TAXONOMY}


def categories_for(word: str) -> tuple[str, ...]:
    """Taxonomy categories a filter word names: ``"bd"`` → ``("kick",)``,
    ``"hh"`` → both hats, ``"open_hat"`` → itself; ``()`` for a word that names none."""
    term = canonical(word)
    if term is None:
        return ()
    if term in GROUP_CATEGORIES:
        return GROUP_CATEGORIES[term]
    category = _CATEGORY_OF_TERM.get(term)
    return (category,) if category is not None else ()


def search_terms(tokens: Iterable[str]) -> list[str]:
    """Each token, then its search term and that term's broader terms."""
    terms: list[str] = []
    for token in tokens:
        terms.append(token)
        term = canonical(token)
        if term is not None:
            terms.extend((term, *BROADER_TERMS.get(term, ())))
    return terms
