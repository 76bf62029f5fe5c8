"""commit_apart on its own: halving a refused group, what is never split, and order."""

from __future__ import annotations

from collections.abc import Sequence

from mesiji.services.commit_apart import commit_apart, is_transient
from mesiji.storage.errors import StorageError, StorageUnavailable


class Committer:
    """Commits items, refusing any group that holds one of ``bad``; records each group."""

    def __init__(self, bad: set[int], error: Exception | None = None) -> None:
        self.bad = bad
        self.error = error
        self.groups: list[list[int]] = []

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.groups.append(list(items))
        if self.bad.intersection(items):
            raise self.error or StorageError("refused")
        return [item * 10 for item in items]


async def test_only_the_refused_items_fail_and_every_item_hears_once() -> None:
    commit = Committer(bad={2, 13})
    heard: list[tuple[int, int | Exception]] = []
    splits = await commit_apart(list(range(16)), commit, lambda i, o: heard.append((i, o)))
    assert sorted(i for i, _ in heard) == list(range(16))
    failed = [i for i, o in heard if isinstance(o, Exception)]
    assert failed == [2, 13]
    assert all(o == i * 10 for i, o in heard if i not in failed)
    assert [i for i, _ in heard] == list(range(16))  # in order
    assert splits == 7  # [0-15], [0-7], [0-3], [2,3], [8-15], [12-15], [12,13]
    assert len(commit.groups) == 1 + 2 * splits


async def test_a_transient_failure_is_not_split() -> None:
    commit = Committer(bad={1}, error=StorageUnavailable("database is locked"))
    heard: list[int | Exception] = []
    assert await commit_apart([0, 1, 2], commit, lambda _, o: heard.append(o)) == 0
    assert commit.groups == [[0, 1, 2]]
    assert all(isinstance(o, StorageUnavailable) for o in heard)
    assert len(heard) == 3
    assert is_transient(StorageUnavailable("x"))
    assert not is_transient(StorageError("x"))
    assert not is_transient(RuntimeError("x"))


async def test_a_commit_with_the_wrong_number_of_results_is_never_run_again() -> None:
    calls: list[Sequence[int]] = []

    async def commit(items: Sequence[int]) -> list[int]:
        calls.append(items)
        return [1]  # it may have committed: running it again could store twice

    heard: list[int | Exception] = []
    await commit_apart([0, 1, 2], commit, lambda _, o: heard.append(o))
    assert len(calls) == 1
    assert [type(o) for o in heard] == [RuntimeError] * 3
