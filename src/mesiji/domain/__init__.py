"""The domain of Mesiji: pure rules of the bulk-SMS business, free of I/O.

Nothing here reads the clock, touches a database or a socket, or runs an event loop; time and
randomness come in as arguments or from :mod:`secrets`. The modules:

- :mod:`mesiji.domain.numbers` — destination numbers: parse, validate and normalise what
  clients send (``995599123456``, ``+995 599 12 34 56``, ...) into E.164 mobile numbers.
- :mod:`mesiji.domain.operators` — the Georgian mobile operators (Magti, Silknet, Cellfie)
  and the normalisation of the carrier names phonenumbers reports.
- :mod:`mesiji.domain.statuses` — the life cycle of message parts and messages, the legal
  transitions, a message's status derived from its parts, and the mapping from receipts.
- :mod:`mesiji.domain.delivery` — the delivery state an SMSC's receipt reports.
- :mod:`mesiji.domain.keys` — API keys and webhook signatures.
- :mod:`mesiji.domain.credits` — what a message costs, and the error for a short balance.
- :mod:`mesiji.domain.senders` — which sender names an SMS can carry.

Import from the modules themselves; this package re-exports nothing.
"""

from __future__ import annotations

__all__: list[str] = []
