"""MCUboot's image slots as a stock device's image manager reports them, and as the
:class:`~edgeconsole.devices.target.SlotInfo` rows every target's slot view shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeconsole.devices.target import SlotInfo


@dataclass(frozen=True)
class ImageSlot:
    """One MCUboot slot as the device's image manager reports it."""

    slot: int
    version: str
    hash: str  # hex of the image's hash TLV
    bootable: bool = False
    pending: bool = False
    confirmed: bool = False
    active: bool = False
    permanent: bool = False

    @property
    def flags(self) -> str:
        names = ("active", "confirmed", "pending", "permanent", "bootable")
        return ", ".join(n for n in names if getattr(self, n))

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def images_of(answer: Any) -> list[ImageSlot]:
    out = []
    for s in answer.images:
        if s.image not in (None, 0):
            continue  # a second image pair (multi-image MCUboot): not managed here
        out.append(
            ImageSlot(
                slot=int(s.slot),
                version=str(s.version),
                hash=bytes(s.hash).hex() if s.hash is not None else "",
                bootable=bool(s.bootable),
                pending=bool(s.pending),
                confirmed=bool(s.confirmed),
                active=bool(s.active),
                permanent=bool(s.permanent),
            )
        )
    return sorted(out, key=lambda s: s.slot)


def slot_info(s: ImageSlot) -> SlotInfo:
    if s.active:
        state = "confirmed" if s.confirmed else "trial"
    elif s.pending:
        state = "staged"
    elif s.confirmed:
        state = "confirmed"
    else:
        state = "staged" if s.bootable else "bad"
    return SlotInfo(
        index=s.slot,
        state=state,
        bundle_id=f"firmware {s.version}",  # MCUboot versions are not integers
        version=0,
        sha256=s.hash,
        running=s.active,
        confirmed=s.confirmed,
    )
