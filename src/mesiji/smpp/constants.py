"""SMPP 3.4 numeric constants, named as the specification names them.

Sources: SMPP 3.4 §5.1.2 (command_id), §5.1.3 (command_status), §5.2.5-6 (TON, NPI),
§5.2.12 (esm_class), §5.2.17 (registered_delivery), §5.2.28 (message_state). data_coding
(§5.2.19) is a GSM 03.38 concept and lives in :mod:`mesiji.text.coding`.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: Bit set in command_id for every response PDU (SMPP 3.4 §5.1.2.1).
RESPONSE_BIT = 0x80000000

#: Every PDU starts with four 4-octet integers (SMPP 3.4 §3.2).
HEADER_LENGTH = 16

#: The interface_version an SMPP 3.4 ESME sends in its bind (SMPP 3.4 §5.2.4).
INTERFACE_VERSION_34 = 0x34


class CommandId(IntEnum):
    """command_id values (SMPP 3.4 §5.1.2.1)."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103


class CommandStatus(IntEnum):
    """command_status values (SMPP 3.4 §5.1.3)."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


#: Statuses that mean "the SMSC is busy, send again later" rather than "this PDU is bad".
TRANSIENT_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})


def status_name(status: int) -> str:
    """The spec's name for a command_status, or its hex value for vendor-specific codes."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


class Ton(IntEnum):
    """Type of Number (SMPP 3.4 §5.2.5)."""

    unknown = 0x00
    international = 0x01
    national = 0x02
    network_specific = 0x03
    subscriber_number = 0x04
    alphanumeric = 0x05
    abbreviated = 0x06


class Npi(IntEnum):
    """Numbering Plan Indicator (SMPP 3.4 §5.2.6)."""

    unknown = 0x00
    isdn = 0x01
    data = 0x03
    telex = 0x04
    land_mobile = 0x06
    national = 0x08
    private = 0x09
    ermes = 0x0A
    internet = 0x0E
    wap_client_id = 0x12


class EsmClass(IntFlag):
    """Bits of esm_class (SMPP 3.4 §5.2.12) that Mesiji reads or sets."""

    store_and_forward = 0x03
    #: Message type bits 5-2: SMSC Delivery Receipt.
    smsc_delivery_receipt = 0x04
    #: Intermediate delivery notification.
    intermediate_notification = 0x20
    #: GSM feature bit 6: the short_message starts with a User Data Header.
    udhi = 0x40
    reply_path = 0x80


#: Mask of the message type bits 5-2 of esm_class (SMPP 3.4 §5.2.12).
ESM_CLASS_TYPE_MASK = 0x3C


class RegisteredDelivery(IntFlag):
    """Bits of registered_delivery (SMPP 3.4 §5.2.17)."""

    none = 0x00
    #: SMSC delivery receipt requested on success and on failure.
    receipt_always = 0x01
    #: SMSC delivery receipt requested on failure only.
    receipt_on_failure = 0x02
    intermediate_notification = 0x10


class MessageState(IntEnum):
    """message_state values (SMPP 3.4 §5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class BindMode(IntEnum):
    """The three ways to bind; values are the bind request's command_id."""

    transmitter = CommandId.bind_transmitter
    receiver = CommandId.bind_receiver
    transceiver = CommandId.bind_transceiver
