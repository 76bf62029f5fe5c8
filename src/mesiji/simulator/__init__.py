"""A simulated SMSC speaking SMPP 3.4, for tests, demos and benchmarks.

::

    from mesiji.simulator import SimulatorSettings, SmscSimulator

    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.2)) as sim:
        ...  # bind ESMEs to 127.0.0.1:sim.port, submit, receive receipts
        print(sim.stats.summary())

Run it from a shell with ``python -m mesiji.simulator --port 2775`` (see
:mod:`mesiji.simulator.cli`).
"""

from mesiji.simulator.mo import mo_pdus
from mesiji.simulator.outcomes import RECEIPT_FORMS, OutcomePicker, ReceiptForm, wants_receipt
from mesiji.simulator.scheduler import Scheduler
from mesiji.simulator.server import SmscSimulator
from mesiji.simulator.settings import DEFAULT_SYSTEM_ID, Outcome, SimulatorSettings
from mesiji.simulator.stats import SimulatorStats, SubmittedMessage

__all__ = [
    "DEFAULT_SYSTEM_ID",
    "RECEIPT_FORMS",
    "Outcome",
    "OutcomePicker",
    "ReceiptForm",
    "Scheduler",
    "SimulatorSettings",
    "SimulatorStats",
    "SmscSimulator",
    "SubmittedMessage",
    "mo_pdus",
    "wants_receipt",
]
