"""SMPP 3.4: a sans-I/O codec, session rules, an asyncio ESME client and an SMSC simulator."""
