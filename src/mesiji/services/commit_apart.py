"""Group commits that give each item its own outcome: a bad item fails alone.

A group commit stores the work of many callers in one transaction; one item the database
refuses (a value one engine does not take, a bug) would roll back everyone's. So when a
group's transaction fails for a reason that is not transient, :func:`commit_apart` splits
the group in two and commits each half (bisection, order kept), down to single items: the
good items are committed, the bad one gets its own error. One bad item among ``n`` costs
about ``2 log2 n`` extra transactions instead of ``n``.

A transient failure (:attr:`mesiji.errors.MesijiError.transient`: locked, full, connection
lost) says nothing about the items and would hit the halves alike, so it is not split: every
item of that (sub)group gets it, and whoever retries does so as before. Neither is a commit
that returned the wrong number of results: it may have committed, and must not run again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from mesiji.errors import MesijiError

__all__ = ["commit_apart", "is_transient"]

T = TypeVar("T")
R = TypeVar("R")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says "later" rather than "not this": retrying the same may work."""
    return isinstance(error, MesijiError) and error.transient


async def commit_apart(
    items: Sequence[T],
    commit: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
    deliver: Callable[[int, R | Exception], None],
) -> int:
    """Commit ``items`` with ``commit`` (one transaction, one result per item, in order).

    ``deliver(index, outcome)`` hears each item's result, or the exception its (sub)group's
    commit raised, as soon as it is known; an item a cancellation interrupted hears nothing.
    Returns the number of commits that failed and were split.
    """
    return await _commit(items, 0, commit, deliver)


async def _commit(
    items: Sequence[T],
    start: int,
    commit: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
    deliver: Callable[[int, R | Exception], None],
) -> int:
    try:
        results = await commit(items)
    except Exception as exc:
        if len(items) == 1 or is_transient(exc):
            for i in range(len(items)):
                deliver(start + i, exc)
            return 0
        middle = len(items) // 2
        first = await _commit(items[:middle], start, commit, deliver)
        return 1 + first + await _commit(items[middle:], start + middle, commit, deliver)
    if len(results) != len(items):
        error = RuntimeError(f"{len(results)} results for {len(items)} items")
        for i in range(len(items)):
            deliver(start + i, error)
        return 0
    for i, result in enumerate(results):
        deliver(start + i, result)
    return 0
