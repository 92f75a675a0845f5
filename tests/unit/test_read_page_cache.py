"""The page cache's rules on their own: position, age, bound, off."""

from __future__ import annotations

from readapi.page_cache import CachedAnswer, PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def answer(position: int, read_at: float = 50.0) -> CachedAnswer:
    return CachedAnswer(b'{"data":[]}', 'W/"tag"', position, read_at)


def test_an_answer_is_served_while_no_newer_position_is_known() -> None:
    cache = PageCache(4, 1.0, clock=Clock())
    cache.put("page", answer(7), known_position=5)  # the rows are newer than any NOTIFY yet
    assert cache.get("page", known_position=6) == answer(7)
    assert cache.get("page", known_position=7) == answer(7)
    assert cache.get("page", known_position=8) is None
    assert cache.get("page", known_position=7) is None  # gone for good


def test_an_answer_older_than_a_known_position_is_not_kept() -> None:
    cache = PageCache(4, 1.0, clock=Clock())
    cache.put("page", answer(7), known_position=8)
    assert cache.get("page", known_position=7) is None


def test_an_answer_is_served_for_less_than_the_max_age_after_its_rows_were_read() -> None:
    clock = Clock()
    cache = PageCache(4, 1.0, clock=clock)
    cache.put("page", answer(7, read_at=clock.now - 0.5), known_position=7)
    clock.now += 0.49
    assert cache.get("page", known_position=7) is not None
    clock.now += 0.01
    assert cache.get("page", known_position=7) is None


def test_the_oldest_answer_goes_first_when_full() -> None:
    cache = PageCache(2, 1.0, clock=Clock())
    for key in ("a", "b", "c"):
        cache.put(key, answer(1), known_position=1)
    assert len(cache) == 2
    assert cache.get("a", known_position=1) is None
    assert cache.get("b", known_position=1) is not None
    assert cache.get("c", known_position=1) is not None


def test_size_zero_or_no_age_keeps_nothing() -> None:
    for cache in (PageCache(0, 1.0, clock=Clock()), PageCache(4, 0.0, clock=Clock())):
        assert not cache.enabled
        cache.put("page", answer(1), known_position=1)
        assert cache.get("page", known_position=1) is None
