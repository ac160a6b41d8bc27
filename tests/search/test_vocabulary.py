"""Producers' words -> the classifier's category names, for text search and filters."""

from __future__ import annotations

import pytest

from samplemind.analysis.classify import TAXONOMY
from samplemind.search.vocabulary import canonical, categories_for, search_terms


@pytest.mark.parametrize(
    ("word", "categories"),
    [
        ("bd", ("kick",)), ("bassdrum", ("kick",)), ("kick", ("kick",)),
        ("sd", ("snare",)), ("snare", ("snare",)), ("cp", ("clap",)),
        ("oh", ("open_hat",)), ("closed_hat", ("closed_hat",)), ("chh", ("closed_hat",)),
        ("hh", ("closed_hat", "open_hat")), ("hihat", ("closed_hat", "open_hat")),
        ("hat", ("closed_hat", "open_hat")), ("cymbal", ("crash", "ride")),
        ("lt", ("tom",)), ("rd", ("ride",)), ("drum_loop", ("drum_loop",)),
        ("loop", ("drum_loop", "melodic_loop")), ("banjo", ()),
    ],
)  # fmt: skip
def test_filter_words_name_taxonomy_categories(word: str, categories: tuple[str, ...]) -> None:
    assert categories_for(word) == categories
    assert set(categories) <= set(TAXONOMY)


def test_every_taxonomy_name_is_its_own_search_term() -> None:
    for category in TAXONOMY:
        assert categories_for(category) == (category,)
        assert canonical(category) == category.replace("_", "")


def test_indexed_categories_carry_their_broader_terms() -> None:
    assert search_terms(["closedhat"]) == ["closedhat", "closedhat", "hat"]
    assert search_terms(["ride"]) == ["ride", "ride", "cymbal"]
    assert search_terms(["drumloop"]) == ["drumloop", "drumloop", "loop"]
    assert search_terms(["bd"]) == ["bd", "kick"]
