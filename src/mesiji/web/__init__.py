"""The HTTP face of Mesiji: the smsoffice.ge-compatible API, the /v1 JSON API, operations."""
