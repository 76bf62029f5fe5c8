"""Mesiji: an open-source bulk-SMS gateway platform.

The package is organised one concept per module:

- :mod:`mesiji.smpp` -- SMPP 3.4: sans-I/O codec, session state, asyncio client, SMSC simulator
- :mod:`mesiji.text` -- GSM 03.38 / UCS-2 / Latin-1 encoding, segmentation, concatenation
- :mod:`mesiji.errors` -- the one error tree every layer raises from
"""

__version__ = "0.1.0"
