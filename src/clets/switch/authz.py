"""Step 2 of the flow: may this peer send this message, and does it pass the field edits?

Everything here runs BEFORE the journal and answers with a code of spec/switch.md.  The
identity comes from the link (certificate, SSH key, configured line), never from the message:
a message only *claims* an ORI, and the claim is checked against the ORIs of that peer.
"""

from __future__ import annotations

import datetime as _dt

from clets.errors import (
    INVALID_FIELD,
    INVALID_ORIGIN_ORI,
    NOT_AUTHORIZED,
    UNKNOWN_MESSAGE_KEY,
    CletsError,
    ValidationError,
)
from clets.model import Message, apply_edits
from clets.model.transactions import Transactions, check_transaction, default_transactions

from .config import ORI_RE, PeerConfig
from .messages import REASONS, reason_for
from .routing import RouteTable

__all__ = ["Rejected", "authorize"]


class Rejected(CletsError):
    """A message the switch refuses; ``event`` is the audit event (``rejected``/``auth_failed``)."""

    def __init__(self, code: int, reason: str, event: str = "rejected",
                 detail: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.event = event
        #: what the operator needs beyond the sender's reason (audit and log, not the wire)
        self.detail = detail


def origin_field(field: str | None) -> bool:
    """Whether a decode error's field is the message's origin ORI (``ORI`` in the text
    headers, ``...OriginatingORIID`` in NIEM): the codecs reject a malformed one as an invalid
    field (21, formats.md), the switch answers it as an invalid origin (10, switch.md)."""
    return field == "ORI" or (field or "").endswith("OriginatingORIID")


def authorize(msg: Message, *, peer: PeerConfig | None, transport_oris: frozenset[str],
              routes: RouteTable, today: _dt.date,
              transactions: Transactions | None = None) -> None:
    """Raise :class:`Rejected` for the first failed check, in the order of the spec."""
    if not routes.knows(msg.mke):
        raise Rejected(UNKNOWN_MESSAGE_KEY, REASONS[UNKNOWN_MESSAGE_KEY])
    if msg.origin is None or not ORI_RE.fullmatch(msg.origin):
        raise Rejected(INVALID_ORIGIN_ORI, REASONS[INVALID_ORIGIN_ORI])
    if peer is None:
        raise Rejected(INVALID_ORIGIN_ORI, REASONS[INVALID_ORIGIN_ORI], "auth_failed")
    if msg.origin not in peer.oris or (transport_oris and msg.origin not in transport_oris):
        raise Rejected(INVALID_ORIGIN_ORI, REASONS[INVALID_ORIGIN_ORI], "auth_failed")
    if not routes.allowed(msg.mke, peer.access):
        raise Rejected(NOT_AUTHORIZED, REASONS[NOT_AUTHORIZED], "auth_failed")
    try:
        apply_edits(msg, today=today)
        routes.check_required(msg)
        # NCIC's mandatory fields per transaction (model/transactions.toml), when enforced
        table = transactions if transactions is not None else default_transactions()
        if table.enforce:
            check_transaction(msg, table=table)
    except ValidationError as exc:
        code = exc.code if exc.code in REASONS else INVALID_FIELD
        raise Rejected(code, reason_for(code, exc)) from exc
