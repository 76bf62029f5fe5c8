"""kill -9 in the middle of a 10,000-message batch, restart: nothing accepted is lost, no part
with a recorded response is sent twice, every receipt is matched.

Real processes on 127.0.0.1: the SMSC simulator (``python -m mesiji.simulator``, with its
submit log as the SMSC's own record of what it received) and the benchmark gateway
(``bench/harness_gateway.py``: one transceiver bind, window 100, SQLite in its data directory).
Messages go in over HTTP; the gateway is killed with SIGKILL while submits are flowing, its
database is copied as the crash left it, and a new gateway process is started on the same data
directory. The copy says which parts had their submit_sm_resp recorded before the crash; the
submit log says how often the SMSC really received each part.

Each message has its own destination number and its own text, so the submit log names every
part by (destination, part number).

Timing: the run is dominated by the dispatch lease (60 s, ``DispatchSettings.lease_seconds``;
the harness has no option to shorten it). Parts the dead gateway had claimed stay
``submitting`` until their lease runs out, and only then does the new process claim them
again. Accepting, sending and receipting the full 10,000 takes 10-18 s on the 2-core machine,
so the whole test takes 65-72 s; the full count fits and is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesiji.settings import DispatchSettings
from mesiji.smpp.receipts import canonical_message_id
from mesiji.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "bench" / "harness_gateway.py"
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON if _VENV_PYTHON.exists() else Path(sys.executable))

API_KEY = "bench"
SENDER = "12345"

#: Messages sent, in requests of BATCH recipients with a text each, CONCURRENCY at a time.
MESSAGES = 10_000
BATCH = 100
CONCURRENCY = 4
#: Every LONG_EVERY-th message is two SMS parts (GSM-7 over 160 characters, UDH 8-bit).
LONG_EVERY = 10
#: The gateway is killed once the SMSC has received this many submit_sm.
KILL_AT = 2_000
#: ... and at least this many stored parts were still waiting to be submitted.
BACKLOG = 500

#: bench/harness_gateway.py: one channel, one transceiver bind (sessions=1), window 100.
WINDOW = 100
BINDS = 1
#: What the architecture promises: only parts on the wire at the crash can be sent twice.
DUPLICATE_BOUND = WINDOW * BINDS
LEASE = DispatchSettings().lease_seconds

#: Bounds on waits for processes and sockets; they only stop a broken run from hanging.
START_LIMIT = 20.0
SEND_LIMIT = 60.0
RECOVERY_LIMIT = LEASE + 30.0

FINAL_PART = "('delivered', 'undelivered', 'expired', 'rejected', 'failed', 'unknown')"


def text_for(n: int) -> str:
    """The text of message ``n``: unique, and two parts for every LONG_EVERY-th message."""
    tag = f"m{n:06d}"
    if n % LONG_EVERY == LONG_EVERY - 1:
        return f"{tag} " + "x" * 200
    return tag


def number_for(n: int) -> str:
    """A distinct Georgian mobile number per message: the SMSC's log names parts by it."""
    return f"995599{n:06d}"


async def poll(condition: Callable[[], bool], limit: float, what: str) -> None:
    """Return once ``condition()`` holds; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {limit:.0f} s")
        await asyncio.sleep(0.05)


# --- processes ---------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    proc: asyncio.subprocess.Process
    output: Path

    def alive(self) -> bool:
        return self.proc.returncode is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.output.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def spawn(name: str, args: list[str], output: Path) -> Process:
    with output.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    return Process(name, proc, output)


async def stop(process: Process) -> int | None:
    """Terminate, then kill after a grace period; the exit status."""
    if process.alive():
        with contextlib.suppress(ProcessLookupError):
            process.proc.terminate()
        try:
            await asyncio.wait_for(process.proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.proc.kill()
            await process.proc.wait()
    return process.proc.returncode


async def start_simulator(tmp: Path, port: int, submit_log: Path) -> Process:
    sim = await spawn(
        "simulator",
        [
            PYTHON, "-m", "mesiji.simulator",
            "--port", str(port),
            "--receipt-delay", "0.2",
            "--submit-log", str(submit_log),
        ],
        tmp / "simulator.out",
    )  # fmt: skip

    def listening() -> bool:
        assert sim.alive(), f"simulator exited:\n{sim.tail()}"
        return "listening on" in sim.output.read_text(encoding="utf-8", errors="replace")

    await poll(listening, START_LIMIT, "simulator listening")
    return sim


async def start_gateway(tmp: Path, sim_port: int, data_dir: Path, run: int) -> tuple[Process, str]:
    http_port = free_port()
    gateway = await spawn(
        f"gateway #{run}",
        [PYTHON, str(HARNESS), str(sim_port), str(http_port), str(data_dir)],
        tmp / f"gateway-{run}.out",
    )
    base = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + START_LIMIT
    async with httpx.AsyncClient(base_url=base, headers=_auth(), timeout=5) as client:
        while True:
            assert gateway.alive(), f"{gateway.name} exited:\n{gateway.tail()}"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/v1/balance")).status_code == 200:
                    return gateway, base
            assert time.monotonic() < deadline, f"{gateway.name} not up:\n{gateway.tail()}"
            await asyncio.sleep(0.05)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


# --- the SMSC's record -------------------------------------------------------------------


class SubmitLog:
    """The simulator's submit log: one JSON line per submit_sm it accepted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._lines = 0

    def count(self) -> int:
        """Lines so far (read incrementally)."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        end = chunk.rfind(b"\n") + 1
        self._lines += chunk.count(b"\n", 0, end)
        self._offset += end
        return self._lines

    def entries(self) -> list[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def submits_by_part(entries: list[dict[str, Any]]) -> dict[tuple[str, int], list[str]]:
    """(destination, part number) -> SMSC message ids of every submit_sm of that part."""
    seen: dict[tuple[str, int], list[str]] = defaultdict(list)
    for entry in entries:
        assert entry["command"] == "submit_sm", entry
        concat = entry.get("concat") or {}
        key = (entry["destination_addr"], int(concat.get("seqnum", 1)))
        seen[key].append(canonical_message_id(entry["message_id"]))
    return seen


# --- the gateway's database --------------------------------------------------------------


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def query(path: Path, sql: str, *, read_only_mode: bool = True) -> list[tuple[Any, ...]]:
    conn = read_only(path) if read_only_mode else sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


PARTS_SQL = """
    SELECT m.destination, p.seqnum, p.status, p.smsc_message_id
    FROM parts p JOIN messages m ON m.id = p.message_id
"""


def snapshot(data_dir: Path, into: Path) -> Path:
    """Copy the database as the crash left it (main file and write-ahead log)."""
    into.mkdir()
    for name in ("mesiji.db", "mesiji.db-wal"):
        source = data_dir / name
        if source.exists():
            shutil.copyfile(source, into / name)
    return into / "mesiji.db"


# --- the client --------------------------------------------------------------------------


@dataclass
class Request:
    numbers: list[int]
    #: The message ids of a 2xx answer, in the order of ``numbers``.
    ids: list[int] | None = None
    #: Why no answer came (the transport failed).
    error: str | None = None
    #: Which gateway process the request went to (0: the one killed).
    run: int = -1
    status: int | None = None


@dataclass
class Client:
    """Sends the requests, through whichever gateway is up; paused while none is."""

    base: str
    up: asyncio.Event = field(default_factory=asyncio.Event)
    run: int = 0

    async def send(self, request: Request, slots: asyncio.Semaphore) -> None:
        async with slots:
            await self.up.wait()
            request.run = self.run
            body = {
                "sender": SENDER,
                "messages": [{"to": number_for(n), "text": text_for(n)} for n in request.numbers],
            }
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    answer = await http.post(f"{self.base}/v1/messages", json=body, headers=_auth())
            except httpx.TransportError as exc:
                request.error = f"{type(exc).__name__}: {exc}"
                return
            request.status = answer.status_code
            if answer.is_success:
                data = answer.json()
                assert data["rejected"] == [], data["rejected"]
                assert [m["to"] for m in data["messages"]] == [
                    number_for(n) for n in request.numbers
                ]
                request.ids = [int(m["id"]) for m in data["messages"]]


# --- the test ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(RECOVERY_LIMIT + SEND_LIMIT + 2 * START_LIMIT)
async def test_kill_9_mid_batch_loses_nothing_and_resends_only_the_window(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    log = SubmitLog(tmp_path / "submits.jsonl")
    sim_port = free_port()
    processes: list[Process] = []
    sending: asyncio.Future[list[None]] | None = None
    try:
        sim = await start_simulator(tmp_path, sim_port, log.path)
        processes.append(sim)
        gateway, base = await start_gateway(tmp_path, sim_port, data_dir, 0)
        processes.append(gateway)

        client = Client(base)
        client.up.set()
        requests = [
            Request(list(range(first, min(first + BATCH, MESSAGES))))
            for first in range(0, MESSAGES, BATCH)
        ]
        slots = asyncio.Semaphore(CONCURRENCY)
        sending = asyncio.gather(*(client.send(r, slots) for r in requests))

        # Kill the gateway while submits are flowing: once the SMSC has KILL_AT of them, at a
        # moment when more arrived since the last look and at least BACKLOG stored parts still
        # wait behind them (dispatch runs in bursts, a claim of 500 parts at a time).
        db = data_dir / "mesiji.db"
        last = [0]

        def kill_point() -> bool:
            assert gateway.alive(), f"gateway died on its own:\n{gateway.tail()}"
            submits, previous = log.count(), last[0]
            last[0] = submits
            if submits < KILL_AT or submits == previous:
                return False
            stored = int(query(db, "SELECT count(*) FROM parts")[0][0])
            return stored - submits >= BACKLOG

        await poll(kill_point, SEND_LIMIT, f"{KILL_AT} submits received")
        client.up.clear()  # requests not yet begun wait for the next gateway
        gateway.proc.kill()  # SIGKILL
        await gateway.proc.wait()
        killed_at = time.monotonic()
        crash = snapshot(data_dir, tmp_path / "crash")
        # What the SMSC received from the killed process (the bytes it had written are read
        # by now: the copy above took longer than the simulator needs to drain a socket).
        submits_at_kill = log.count()
        in_flight_at_kill = [r for r in requests if r.run == 0 and r.status is None]

        gateway, client.base = await start_gateway(tmp_path, sim_port, data_dir, 1)
        processes.append(gateway)
        client.run = 1
        client.up.set()
        restarted_at = time.monotonic()
        await asyncio.wait_for(sending, SEND_LIMIT)
        sent_at = time.monotonic()

        accepted = [r for r in requests if r.ids is not None]
        failed = [r for r in requests if r.ids is None]
        # Only requests the killed gateway was answering may fail, and only by the transport.
        assert all(r.run == 0 and r.error is not None for r in failed), [
            (r.run, r.status, r.error) for r in failed
        ]
        accepted_ids = {i for r in accepted for i in r.ids or ()}

        # Wait until every stored part is final and the SMSC got every part at least once.
        def settled() -> bool:
            assert gateway.alive(), f"gateway died:\n{gateway.tail()}"
            rows = query(db, f"SELECT count(*), sum(status IN {FINAL_PART}) FROM parts")
            total, final = (int(n or 0) for n in rows[0])
            return 0 < total == final <= log.count()

        await poll(settled, RECOVERY_LIMIT, "every part final")
        settled_at = time.monotonic()

        # The superseded submit of a part sent twice has a receipt no part will ever carry;
        # wait for those too, so that every receipt the SMSC sent is accounted for.
        superseded = _superseded(log, db)
        unmatched_sql = "SELECT smsc_message_id FROM receipts WHERE matched_part_id IS NULL"
        with contextlib.suppress(AssertionError):
            await poll(
                lambda: {r[0] for r in query(db, unmatched_sql)} >= superseded,
                10.0,
                "receipts of superseded submits",
            )

        # The API agrees with the database (a sample: ten thousand GETs add nothing).
        async with httpx.AsyncClient(base_url=client.base, headers=_auth(), timeout=10) as http:
            for message_id in sorted(accepted_ids)[:: max(1, len(accepted_ids) // 20)]:
                view = (await http.get(f"/v1/messages/{message_id}")).json()
                assert view["status"] == "delivered", view

        # A clean stop, as a service manager does it: SIGTERM drains and unbinds, exit 0.
        gateway.proc.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(gateway.proc.wait(), START_LIMIT)
        assert status == 0, f"gateway did not stop cleanly ({status}):\n{gateway.tail()}"
        await stop(sim)
    finally:
        if sending is not None and not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        for process in reversed(processes):
            await stop(process)

    # ---- what the crash left ----
    before = {
        (d, n): (status, smsc)
        for d, n, status, smsc in query(crash, PARTS_SQL, read_only_mode=False)
    }
    crash_statuses = Counter(status for status, _ in before.values())
    recorded = {key: smsc for key, (_, smsc) in before.items() if smsc is not None}
    submitting = {key for key, (status, _) in before.items() if status == "submitting"}

    # ---- what became of it ----
    messages = {
        message_id: (destination, body, status)
        for message_id, destination, body, status in query(
            db, "SELECT id, destination, body, status FROM messages"
        )
    }
    after = {(d, n): (status, smsc) for d, n, status, smsc in query(db, PARTS_SQL)}
    unmatched = {r[0] for r in query(db, unmatched_sql)}
    entries = log.entries()
    sent = submits_by_part(entries)
    # Parts the SMSC had received from the killed process.
    received = set(submits_by_part(entries[:submits_at_kill]))
    duplicates = {key: ids for key, ids in sent.items() if len(ids) > 1}
    extra_submits = sum(len(ids) - 1 for ids in duplicates.values())
    superseded = {i for key, ids in duplicates.items() for i in ids if i != after[key][1]}
    unacknowledged = set(messages) - accepted_ids
    # Claimed parts the SMSC had received: at most WINDOW x BINDS still awaited their
    # submit_sm_resp, the others had been answered but the answer was not yet committed.
    claimed_received = submitting & received

    print(
        f"\ncrash recovery: {MESSAGES} messages in {len(requests)} requests of {BATCH}; "
        f"gateway killed {killed_at - started:.1f} s after start, "
        f"when the SMSC had {submits_at_kill} submit_sm\n"
        f"  requests in flight at the kill: {len(in_flight_at_kill)}, failed: {len(failed)} "
        f"({sum(len(r.numbers) for r in failed)} messages not accepted); "
        f"stored without a 2xx: {len(unacknowledged)}\n"
        f"  parts at the crash: {dict(crash_statuses)}, not yet stored: {len(after) - len(before)}"
        f"; claimed and already received by the SMSC: {len(claimed_received)}\n"
        f"  accepted messages: {len(accepted_ids)}, parts: {len(after)}, "
        f"submit_sm received: {sum(len(v) for v in sent.values())}\n"
        f"  duplicates: {extra_submits} submit_sm for {len(duplicates)} parts "
        f"(bound: window {WINDOW} x binds {BINDS} = {DUPLICATE_BOUND}); "
        f"receipts left unmatched: {len(unmatched)}\n"
        f"  timings: restart {restarted_at - killed_at:.1f} s, all accepted "
        f"{sent_at - started:.1f} s, all final {settled_at - started:.1f} s "
        f"(lease {LEASE:.0f} s), total {time.monotonic() - started:.1f} s"
    )

    # The kill came in the middle: parts recorded, parts claimed, parts still waiting.
    assert recorded, "the kill came before any submit_sm_resp was recorded"
    assert submitting, "the kill came when no part was claimed"
    assert len(recorded) + len(submitting) < len(after), "the kill came after every claim"

    # Nothing accepted is lost: every message that got a 2xx is stored, with its text, and
    # delivered; so is every message stored at all (including any committed without its 2xx).
    by_number = {n: i for r in accepted for n, i in zip(r.numbers, r.ids or (), strict=True)}
    for n, message_id in by_number.items():
        assert message_id in messages, f"accepted message {message_id} ({n}) is missing"
        assert messages[message_id][:2] == (number_for(n), text_for(n))
    not_delivered = {i: m for i, m in messages.items() if m[2] != "delivered"}
    assert not not_delivered, f"{len(not_delivered)} messages not delivered"
    assert all(status == "delivered" for status, _ in after.values())

    # The SMSC received every stored part, and nothing the gateway does not know of.
    assert set(sent) == set(after), sorted(set(sent) ^ set(after))[:10]
    # Each part's SMSC id is the one of its last submit_sm; a recorded id never changes.
    for key, (_, smsc) in after.items():
        assert smsc == sent[key][-1], (key, smsc, sent[key])
    for key, smsc in recorded.items():
        assert after[key][1] == smsc, (key, smsc, after[key])

    # No part whose submit_sm_resp was recorded is sent twice; a duplicate can only be a part
    # the killed process had claimed and the SMSC had received.
    assert not (set(duplicates) & set(recorded)), sorted(set(duplicates) & set(recorded))[:10]
    assert set(duplicates) <= claimed_received, sorted(set(duplicates) - claimed_received)[:10]
    assert all(len(ids) == 2 for ids in duplicates.values())

    # Every receipt is matched: every part's receipt made it delivered, and the only receipts
    # left waiting are those of superseded submits, which no part carries (and each of those
    # was received, none lost).
    assert unmatched == superseded, (
        f"unmatched not superseded: {sorted(unmatched - superseded)[:10]}, "
        f"superseded never received: {sorted(superseded - unmatched)[:10]}"
    )

    # Duplicates are bounded by what can be on the wire: the window of each bind.
    assert extra_submits <= DUPLICATE_BOUND, (
        f"{extra_submits} parts sent twice, more than window x binds = {DUPLICATE_BOUND}: "
        f"{len(claimed_received)} claimed parts had reached the SMSC, so at least "
        f"{len(claimed_received) - DUPLICATE_BOUND} had their submit_sm_resp and were not recorded"
    )


def _superseded(log: SubmitLog, db: Path) -> set[str]:
    """SMSC ids of submits that a later submit of the same part replaced."""
    current = {(d, s): smsc for d, s, _, smsc in query(db, PARTS_SQL)}
    return {
        i
        for key, ids in submits_by_part(log.entries()).items()
        if len(ids) > 1
        for i in ids
        if i != current.get(key)
    }
