"""The ``adms`` driver: ZKTeco push clocks (ADMS / iclock), configured by serial number.

A push clock is an HTTP client: it sends its punches to punchd's receiver (``[push]
listen``) and is never polled. The driver exists so such clocks are configured, validated
and listed like any other device; its pull operations say why they cannot work.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from punchd.drivers.base import DeviceConfig, Driver, Progress
from punchd.drivers.errors import NotSupported
from punchd.drivers.records import DeviceInfo, DeviceUser, Punch

__all__ = ["NOT_POLLED", "ADMSConfig", "ADMSDriver"]

NOT_POLLED = "a push clock sends its punches to the receiver ([push] listen); it is never polled"


class ADMSConfig(DeviceConfig):
    driver: Literal["adms"] = "adms"
    #: the ``SN=`` the clock sends: its only identity (a weak one: see ``allow_from``)
    serial: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    #: addresses or networks the clock may post from; empty: any
    allow_from: list[str] = Field(default_factory=list)

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"allow_from: {item!r} is not an address or network (e.g. 10.1.2.0/24)"
                ) from None
        return [item.strip() for item in value]

    def allows(self, address: str) -> bool:
        """Whether a request from ``address`` (the peer's IP) may speak for this clock."""
        if not self.allow_from:
            return True
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(
            peer in ipaddress.ip_network(item, strict=False)
            for item in self.allow_from
            if ipaddress.ip_network(item, strict=False).version == peer.version
        )

    def address(self) -> str:
        return f"push:{self.serial}"


class ADMSDriver(Driver):
    name = "adms"
    config_model = ADMSConfig
    config: ADMSConfig
    #: its punches arrive at the receiver; the collector never schedules it
    push: ClassVar[bool] = True

    def _refuse(self) -> NotSupported:
        return NotSupported(f"{self.config.name}: {NOT_POLLED}")

    def connect(self) -> None:
        raise self._refuse()

    def close(self) -> None:
        pass

    def device_info(self) -> DeviceInfo:
        raise self._refuse()

    def users(self) -> list[DeviceUser]:
        raise self._refuse()

    def punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> list[Punch]:
        raise self._refuse()

    def get_time(self) -> datetime:
        raise self._refuse()

    def set_time(self, when: datetime) -> None:
        raise self._refuse()

    def record_count(self) -> int:
        raise self._refuse()
