"""One readable line per canonical answer, for the demo transcript."""

from __future__ import annotations

from clets.model import Message, Name, Person, Record

__all__ = ["name_of", "one_line", "wire_preview"]


def name_of(person: Person | None) -> str:
    name: Name | None = person.name if person else None
    if name is None or not name.last:
        return "?"
    rest = " ".join(p for p in (name.first, name.middle) if p)
    return f"{name.last}, {rest}" if rest else name.last


def _record(rec: Record) -> str:
    nic = rec.case.nic if rec.case else None
    veh, reg = rec.vehicle, rec.registration
    if rec.file == "vehicle" and veh is not None:
        return (f"HIT stolen vehicle {veh.plate} {veh.plate_state or ''} NIC {nic} "
                f"OCA {rec.case.oca if rec.case else '?'} entered by {rec.ori}").replace("  ", " ")
    if rec.file == "registration" and veh is not None:
        line = (f"registration {veh.plate} {veh.plate_state or ''} {veh.year or ''} "
                f"{veh.make or ''} {veh.model or ''} owner {name_of(rec.owner)}")
        if reg is not None:
            line += f" status {reg.status} expires {reg.expires} fees {reg.fees_due}"
            if reg.stolen:
                line += " STOLEN"
        return " ".join(line.split())
    if rec.file == "wanted":
        caution = " CAUTION" if rec.caution else ""
        return (f"HIT wanted {name_of(rec.person)} DOB {rec.person.dob if rec.person else '?'}"
                f" NIC {nic} {rec.offense or ''}{caution}")
    if rec.file == "protection_order":
        fcn = rec.case.fcn if rec.case else None
        return (f"HIT protection order against {name_of(rec.person)} FCN {fcn} NIC {nic}"
                f" protects {rec.fields.get('PPN', '?')}"
                f" expires {rec.fields.get('EXP', '?')}")
    if rec.file == "driver" and rec.person is not None:
        lic = rec.person.license
        if lic is not None:
            return " ".join(
                f"licence {lic.number} {lic.state or ''} {name_of(rec.person)} DOB "
                f"{rec.person.dob} status {lic.status} class {lic.class_} expires "
                f"{lic.expires} points {rec.fields.get('PTS', '?')}".split())
    if rec.file == "criminal_history":
        if "CYC" in rec.fields:
            p = rec.person
            return (f"criminal history {name_of(p)} CII {p.cii if p else '?'} FBI "
                    f"{p.fbi if p else '?'}: {rec.fields['CYC']} arrest cycles")
        return f"{rec.fields.get('DOA', '?')[:4]} {rec.offense or '?'}"
    return f"{rec.file} record"


def one_line(msg: Message | None) -> str:
    """``SVS``-style summary of a canonical answer: status, then one clause per record."""
    if msg is None:
        return "(undecodable)"
    late = "LATE " if "late" in msg.warnings else ""
    if msg.mke == "ACK":
        return f"ACK {msg.text or ''}".strip()
    if msg.status == "error" and msg.error is not None:
        return f"{late}.{msg.error.code or 0:02d}. {msg.error.reason or ''}".strip()
    if msg.status in ("pending", "unavailable"):
        return f"{late}{msg.text or msg.status}"
    if msg.status == "no_hit":
        return f"{late}no hit: {msg.text or 'NO RECORD'}"
    if not msg.records:
        return f"{late}{msg.status or msg.mke}: {msg.text or ''}".strip()
    history = [r for r in msg.records if r.file == "criminal_history" and "CYC" not in r.fields]
    head = [_record(r) for r in msg.records if r not in history]
    if history:
        head.append("cycles: " + ", ".join(_record(r) for r in history))
    return late + "; ".join(head)


def wire_preview(raw: bytes, limit: int = 96) -> str:
    """Printable text of a text frame (line breaks shown as ``|``), shortened to ``limit``."""
    text = raw.decode("latin-1")
    shown = "".join(ch if ch.isprintable() else ("|" if ch == "\n" else f"\\x{ord(ch):02x}")
                    for ch in text.replace("\r\n", "\n"))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
