"""The error tree of Mesiji.

Every exception Mesiji raises on purpose derives from :class:`MesijiError`. Each boundary
(codec, session, storage, HTTP) translates what it catches into one of these with
``raise ... from exc``, so callers handle meaning, not library details::

    MesijiError
    ├── ConfigError                    settings that cannot work
    ├── TextError                      text cannot be encoded as asked (mesiji.text)
    ├── NumberError                    a destination number refused, with a code (domain.numbers)
    ├── CallbackUrlError               a callback URL unusable or not allowed (domain.callback_urls)
    ├── InsufficientBalance            the balance does not cover a request (domain.credits)
    ├── UnstorableValue                a value SQLite or PostgreSQL would refuse (domain.storable)
    ├── RequestError                   an API request refused, with a stable ErrorCode
    │                                  (services.errors; mapped to HTTP by mesiji.web)
    ├── Overloaded                     more requests waiting than the gateway takes:
    │                                  transient, HTTP 429 with Retry-After
    ├── UnsendableError                a part that cannot become a submit_sm (services)
    ├── CommandError                   a CLI command refused its input (cli.inputs)
    ├── StorageError                   anything the database said (storage.errors)
    │   ├── StorageUnavailable         locked, full or unreachable: transient, HTTP 503
    │   ├── Conflict                   a uniqueness rule, e.g. an Idempotency-Key reused
    │   └── NotFound
    └── SmppError                      anything SMPP
        ├── PduError                   bytes that are not a valid PDU (carries command_status)
        ├── ReceiptError               a delivery receipt without an id (smpp.receipts)
        ├── LocalProtocolError         we tried to do something SMPP 3.4 does not allow
        ├── RemoteProtocolError        the peer broke SMPP 3.4
        ├── CommandStatusError         the peer answered with a non-zero command_status
        │   └── TransientStatusError   ... one that says "later" (throttled, queue full)
        ├── ResponseTimeoutError       no response within the configured time
        ├── BindError                  bind refused or failed
        └── ConnectionClosedError      the link is gone (by us or by the peer)

Each boundary translates what it catches into one of these with ``raise ... from exc``:
the storage adapters translate driver errors, the HTTP layer maps RequestError and
StorageUnavailable to a status and a stable code, and nothing else reaches a client.

``transient`` tells whether retrying the same operation later can succeed.
"""

from __future__ import annotations


class MesijiError(Exception):
    """Base of every error Mesiji raises on purpose."""

    transient: bool = False


class ConfigError(MesijiError):
    """Settings that cannot work (unknown option, impossible value)."""


class Overloaded(MesijiError):  # noqa: N818 -- named like StorageUnavailable, its sibling
    """More work is waiting than the gateway accepts: refused now, to be retried shortly."""

    transient = True


class TextError(MesijiError):
    """Text that cannot be encoded with the requested alphabet or limits."""


class SmppError(MesijiError):
    """Base of everything SMPP."""


class PduError(SmppError):
    """Bytes that do not form a valid SMPP 3.4 PDU.

    ``command_status`` is the error code to answer the peer with (SMPP 3.4 §5.1.3), and
    ``sequence_number`` / ``command_id`` are set when the header could still be read, so a
    session can send a ``generic_nack`` or an error response with the right sequence.
    """

    def __init__(
        self,
        message: str,
        command_status: int,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.command_id = command_id
        self.sequence_number = sequence_number


class LocalProtocolError(SmppError):
    """We tried something SMPP 3.4 does not allow in the current state (a bug of the caller)."""


class RemoteProtocolError(SmppError):
    """The peer sent something SMPP 3.4 does not allow in the current state."""


class CommandStatusError(SmppError):
    """The peer answered a request with a non-zero command_status."""

    def __init__(self, message: str, command_status: int) -> None:
        super().__init__(message)
        self.command_status = command_status


class TransientStatusError(CommandStatusError):
    """A command_status that means "try again later" (ESME_RTHROTTLED, ESME_RMSGQFUL)."""

    transient = True


class ResponseTimeoutError(SmppError):
    """No response arrived within the configured response timeout."""

    transient = True


class BindError(SmppError):
    """The bind was refused by the SMSC or could not be completed."""


class ConnectionClosedError(SmppError):
    """The SMPP link is closed; requests still outstanding fail with this."""

    transient = True
