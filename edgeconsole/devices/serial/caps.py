"""What a stock MCUmgr device can do, asked of the device itself.

The group list comes from the enumeration group when the firmware has it
(``enum list`` + ``details``), otherwise from probing each group with a
harmless read: an answer, or a group-specific error, means the group is
there; ``ENOTSUP`` means it is not; silence is reported as silence, never
guessed. OS/application info names the board; bootloader info names the
bootloader and MCUboot's mode (swap, overwrite, direct-XIP) and whether it
prevents downgrades. Each feature the window offers is a :class:`Capability`
with the reason when it is not available, so nothing is greyed out without a
sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smp.header import GroupId

OS = int(GroupId.OS_MANAGEMENT)
IMG = int(GroupId.IMAGE_MANAGEMENT)
STAT = int(GroupId.STATISTICS_MANAGEMENT)
FS = int(GroupId.FILE_MANAGEMENT)
SHELL = int(GroupId.SHELL_MANAGEMENT)
ENUM = int(GroupId.ENUM_MANAGEMENT)

GROUP_LABELS: dict[int, str] = {
    OS: "OS",
    IMG: "image",
    STAT: "statistics",
    3: "settings",
    4: "log",
    FS: "file system",
    SHELL: "shell",
    ENUM: "enumeration",
    63: "Zephyr basic",
    64: "Intercreate",
    65: "EdgeConsole",
}
KCONFIG = {
    IMG: "CONFIG_MCUMGR_GRP_IMG",
    STAT: "CONFIG_MCUMGR_GRP_STAT",
    FS: "CONFIG_MCUMGR_GRP_FS",
    SHELL: "CONFIG_MCUMGR_GRP_SHELL",
}
#: MCUboot modes (bootloader info ``mode``), as Zephyr numbers them.
MODES: dict[int, str] = {
    -1: "unknown",
    0: "single application",
    1: "swap using scratch",
    2: "overwrite only",
    3: "swap using move",
    4: "direct-XIP",
    5: "direct-XIP with revert",
    6: "RAM load",
    7: "firmware loader",
    8: "swap using offset",
}
SWAP_MODES = frozenset({1, 3, 8})


@dataclass(frozen=True)
class Capability:
    key: str
    label: str
    available: bool
    reason: str = ""  # why not, or a detail worth knowing when it is there

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Capabilities:
    groups: tuple[int, ...]
    source: str  # "enumeration" or "probing"
    buf_size: int = 0
    os_info: str = ""
    board: str = ""
    bootloader: str = ""
    mode: int | None = None
    no_downgrade: bool | None = None
    hash_types: tuple[str, ...] = ()
    silent: tuple[int, ...] = ()  # groups probed that did not answer at all
    items: tuple[Capability, ...] = field(default=())

    def has(self, key: str) -> bool:
        return any(c.key == key and c.available for c in self.items)

    def get(self, key: str) -> Capability | None:
        return next((c for c in self.items if c.key == key), None)

    def why_not(self, key: str) -> str:
        cap = self.get(key)
        if cap is None:
            return "unknown feature"
        return "" if cap.available else cap.reason

    @property
    def mode_name(self) -> str:
        if self.mode is None:
            return "not reported"
        return MODES.get(self.mode, f"mode {self.mode}")

    @property
    def can_revert(self) -> bool | None:
        """True for MCUboot swap modes (a tested image reverts unless confirmed)."""
        if self.mode is None:
            return None
        return self.mode in SWAP_MODES or self.mode == 5

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": {str(g): GROUP_LABELS.get(g, f"group {g}") for g in self.groups},
            "source": self.source,
            "buf_size": self.buf_size,
            "os_info": self.os_info,
            "board": self.board,
            "bootloader": self.bootloader,
            "mode": self.mode,
            "mode_name": self.mode_name,
            "no_downgrade": self.no_downgrade,
            "hash_types": list(self.hash_types),
            "silent_groups": list(self.silent),
            "features": [c.to_json() for c in self.items],
        }


def features(c: Capabilities) -> tuple[Capability, ...]:
    """The window's features with why each is or is not available."""
    g = set(c.groups)

    def missing(group: int) -> str:
        if group in c.silent:
            return f"the device did not answer its {GROUP_LABELS[group]} group"
        return (
            f"the device's firmware has no {GROUP_LABELS[group]} management "
            f"({KCONFIG[group]} is off)"
        )

    img = IMG in g
    revert = c.can_revert
    if not img:
        test_reason = missing(IMG)
    elif revert is False:
        test_reason = (
            f"MCUboot here is {c.mode_name}: a tested image cannot revert, so test is "
            "the final install"
        )
    elif revert is None:
        test_reason = "MCUboot's mode is not reported: assuming swap with revert"
    else:
        test_reason = f"MCUboot {c.mode_name}: unconfirmed images revert at the next reset"
    hashes = c.hash_types
    items = [
        Capability("image.list", "Image slots", img, "" if img else missing(IMG)),
        Capability("image.upload", "Upload firmware", img, "" if img else missing(IMG)),
        Capability(
            "image.test",
            "Test, reset and confirm",
            img,
            test_reason,
        ),
        Capability("image.erase", "Erase the spare slot", img, "" if img else missing(IMG)),
        Capability("reset", "Reset", OS in g, "" if OS in g else "no OS management group"),
        Capability("fs", "Files", FS in g, "" if FS in g else missing(FS)),
        Capability(
            "fs.hash",
            "File hash check",
            FS in g and bool(hashes),
            (", ".join(hashes) if hashes else "")
            if FS in g and hashes
            else (
                missing(FS)
                if FS not in g
                else "the device cannot hash files: transfers are checked by reading back"
            ),
        ),
        Capability("stats", "Statistics", STAT in g, "" if STAT in g else missing(STAT)),
        Capability("shell", "Shell", SHELL in g, "" if SHELL in g else missing(SHELL)),
    ]
    return tuple(items)
