"""Use cases: accepting messages, dispatching them, receipts, notifications."""
