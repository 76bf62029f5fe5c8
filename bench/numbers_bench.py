"""Destination parsing: the fast path for home-region mobiles against phonenumbers alone.

Parses the same list of Georgian numbers, written the ways clients write them, through
``parse_destination`` (fast path first) and through the phonenumbers-only path it falls back to,
alternately, and prints µs per number for each and their ratio. One core, no I/O.

    .venv/bin/python bench/numbers_bench.py [-n 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from mesiji.domain import numbers
from mesiji.domain.numbers import GEORGIA, parse_destination

_FORMS: tuple[Callable[[str], str], ...] = (
    lambda nsn: "995" + nsn,
    lambda nsn: "+995" + nsn,
    lambda nsn: "00995" + nsn,
    lambda nsn: "0" + nsn,
    lambda nsn: nsn,
    lambda nsn: f"+995 {nsn[:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:]}",
)
_MOBILE_BLOCKS = ("555", "557", "568", "571", "574", "577", "591", "592", "595", "598", "599")


def sample(count: int, seed: int = 9) -> list[str]:
    """``count`` Georgian mobile numbers in the forms clients use."""
    rng = random.Random(seed)
    return [
        rng.choice(_FORMS)(rng.choice(_MOBILE_BLOCKS) + f"{rng.randrange(10**6):06d}")
        for _ in range(count)
    ]


def by_phonenumbers(raw: str) -> numbers.Destination:
    text, compact = numbers._compact(raw)
    return numbers._parse_compact(compact, text, raw, GEORGIA, "GE")


def timed(parse: Callable[[str], numbers.Destination], inputs: list[str]) -> float:
    """µs per number, CPU time of this process."""
    start = time.process_time()
    for raw in inputs:
        parse(raw)
    return (time.process_time() - start) / len(inputs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    inputs = sample(args.n)
    assert [parse_destination(raw) for raw in inputs] == [by_phonenumbers(raw) for raw in inputs]
    fast: list[float] = []
    slow: list[float] = []
    for _ in range(args.repeat):
        slow.append(timed(by_phonenumbers, inputs))
        fast.append(timed(parse_destination, inputs))
    best_fast, best_slow = min(fast), min(slow)
    print(f"numbers: {args.n} Georgian mobiles, best of {args.repeat}, µs per number")
    print(f"  phonenumbers parse path  {best_slow:7.2f}")
    print(f"  parse_destination (fast) {best_fast:7.2f}   {best_fast / best_slow:.2f}x of parse")


if __name__ == "__main__":
    main()
