"""Settings: a TOML file plus ``PUNCHD_*`` environment variables (pydantic-settings).

The file is ``--config PATH``, else ``$PUNCHD_CONFIG``, else ``./punchd.toml`` when it
exists. Environment variables win over the file (``PUNCHD_DATABASE_URL`` …).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from punchd.clock import device_zone, zone
from punchd.drivers import DeviceConfig, get_driver
from punchd.drivers.base import known_zone
from punchd.drivers.registry import UnknownDriver
from punchd.errors import PunchdError
from punchd.triggers import check_poll_spec, parse_duration, parse_time_of_day


class ConfigError(PunchdError):
    """A configuration problem, already phrased for the person who wrote the file."""


def default_data_dir() -> Path:
    # systemd's StateDirectory= sets STATE_DIRECTORY for the service.
    if state := os.environ.get("STATE_DIRECTORY"):
        return Path(state.split(":")[0])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "punchd"


class DaemonSettings(BaseModel):
    """``[daemon]``: how ``punchd run`` schedules its work."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: default poll schedule of every device: "5m"-style or a cron expression
    poll_every: str = "5m"
    #: devices polled at the same time, at most
    max_concurrent_polls: int = Field(default=4, ge=1, le=64)
    #: after a failure the device is retried after backoff_base, then twice as long
    #: each time, up to backoff_max; its normal schedule resumes after a success
    backoff_base: str = "30s"
    backoff_max: str = "30m"
    #: daily clock check, site time of day (the site ``timezone``; the host's when unset)
    clock_check_at: str = "03:00"
    #: drift (seconds) above which the daily check sets the device clock
    clock_sync_threshold: float = Field(default=60.0, ge=1)
    #: the largest drift (seconds) the daily check corrects by itself; a larger one is a
    #: wrong zone or daylight saving far more often than a bad clock: it is only reported
    #: (``punchd devices set-time`` corrects it deliberately)
    clock_auto_correct_max: float = Field(default=600.0, ge=1)
    #: when yesterday is finalised (absences) — site time of day
    close_of_day_at: str = "00:30"
    #: seconds between heartbeats (database row, systemd watchdog)
    heartbeat_every: float = Field(default=10.0, gt=0)
    #: on SIGTERM, seconds to let running work end before exiting anyway
    shutdown_timeout: float = Field(default=20.0, gt=0)
    #: several daemons on one database (docs/cluster.md): a dead or stalled daemon's devices
    #: are polled by another within this many seconds
    takeover_within: float = Field(default=30.0, ge=3, le=3600)
    #: the devices this host may poll (names from [[devices]]); empty: all of them
    devices: tuple[str, ...] = ()
    #: this host's site, shown by `punchd status` beside its daemon
    site: str | None = Field(default=None, max_length=64)
    #: a host clock further than this (seconds) from the database server's is reported, and
    #: that host's daemon does not correct device clocks
    max_host_skew: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _clock_limits(self) -> DaemonSettings:
        if self.clock_auto_correct_max < self.clock_sync_threshold:
            raise ValueError(
                "daemon.clock_auto_correct_max must be at least daemon.clock_sync_threshold"
            )
        return self

    @field_validator("poll_every")
    @classmethod
    def _schedule(cls, value: str) -> str:

        return check_poll_spec(value)

    @field_validator("backoff_base", "backoff_max")
    @classmethod
    def _duration(cls, value: str) -> str:

        parse_duration(value)
        return value

    @field_validator("clock_check_at", "close_of_day_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:

        parse_time_of_day(value)
        return value


class DatabaseSettings(BaseModel):
    """``[database]``: how long punchd waits for the database before it calls it down (then the
    daemon spools punches and carries on). Applied to PostgreSQL and MySQL/MariaDB."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: seconds to establish a connection
    connect_timeout: float = Field(default=10.0, gt=0, le=3600)
    #: seconds one statement (or one read/write on the link) may take: a half-open link or a
    #: hung server is given up after this (PostgreSQL statement_timeout and TCP user timeout;
    #: MySQL read/write timeouts)
    statement_timeout: float = Field(default=60.0, gt=0, le=86400)
    #: seconds of silence after which TCP keepalive probes check the link (PostgreSQL)
    keepalive_idle: float = Field(default=30.0, ge=1, le=7200)


class WebSettings(BaseModel):
    """``[web]``: the console (``punchd web``) and its accounts' sessions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: host:port the console listens on (behind a TLS reverse proxy for anything but loopback)
    listen: str = "127.0.0.1:8080"
    #: the address people type, e.g. "https://punchd.example.com" (links, secure cookies)
    public_url: str | None = None
    #: a session ends after this many minutes without a request …
    idle_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    #: … and this many hours after sign-in, whatever happens
    absolute_hours: int = Field(default=12, ge=1, le=24 * 90)
    #: failed sign-ins for one user name (or from one address) within throttle_minutes after
    #: which further attempts are refused until the window has passed
    max_failed_signins: int = Field(default=5, ge=1, le=1000)
    throttle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: list[str] = Field(default_factory=list)
    #: largest form or upload accepted, bytes
    max_body_bytes: int = Field(default=1_000_000, ge=1024, le=1_000_000_000)
    #: networks from which employees HR enabled may sign in / out for work in the console
    #: (签到 / 签退); empty: nobody can
    self_punch_networks: list[str] = Field(default_factory=list)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen must be host:port, e.g. 127.0.0.1:8080 (got {value!r})")
        return value

    @field_validator("self_punch_networks")
    @classmethod
    def _self_punch_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"self_punch_networks: {entry!r} is no address or network"
                ) from None
        return value

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when people reach the console by an https:// address."""
        return bool(self.public_url and self.public_url.startswith("https://"))


#: att_exception kinds a month may be closed with only by force (``[periods] blocking``).
FINDING_KINDS = (
    "late",
    "early",
    "absent",
    "missing_in",
    "missing_out",
    "leave",
    "overtime",
    "rest_overtime",
    "holiday_overtime",
    "stray_punch",
    "unpaired_punch",
    "unscheduled",
)


class PeriodSettings(BaseModel):
    """``[periods]``: closing pay periods (docs/periods.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Findings that keep a month from closing until HR resolves them (or closes by force).
    blocking: list[Literal[FINDING_KINDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["missing_in", "missing_out"]
    )


class PushSettings(BaseModel):
    """``[push]``: the receiver push-mode (ADMS / iclock) clocks send their punches to, part of
    ``punchd run``. Off unless ``listen`` is set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: host:port to listen on, e.g. "0.0.0.0:8081" (TLS: a reverse proxy); None: no receiver
    listen: str | None = None
    #: largest upload accepted, bytes (a full ATTLOG batch is far smaller)
    max_body_bytes: int = Field(default=2_000_000, ge=1024, le=100_000_000)
    #: seconds between a clock's command polls (the handshake's Delay)
    delay: int = Field(default=10, ge=1, le=3600)
    #: seconds a clock waits before retrying after a failure (the handshake's ErrorDelay)
    error_delay: int = Field(default=30, ge=1, le=3600)
    #: uploads of one clock handled at the same time; more get 503 with Retry-After, so that
    #: one flooding clock cannot starve the others
    max_uploads_per_device: int = Field(default=2, ge=1, le=64)
    #: seconds between two looks for queued commands (one query for every clock): between
    #: them a heartbeat of a clock with nothing queued is answered from memory; a command
    #: queued by `punchd devices command` waits at most this long. 0: look at every heartbeat
    command_check_seconds: float = Field(default=2.0, ge=0, le=60)
    #: addresses or networks of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: list[str] = Field(default_factory=list)
    #: site time of day of the daily reconciliation (VERIFY SUM ATTLOG per day and clock,
    #: DATA QUERY ATTLOG for days whose counts differ)
    reconcile_at: str = "02:30"
    #: days before today the reconciliation checks; 0: no reconciliation
    reconcile_days: int = Field(default=7, ge=0, le=90)

    @field_validator("reconcile_at")
    @classmethod
    def _reconcile_time(cls, value: str) -> str:
        parse_time_of_day(value)  # ValueError: the message says what a time of day looks like
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"listen must be host:port, e.g. 0.0.0.0:8081 (got {value!r})")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is no address or network") from None
        return value

    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None (no receiver); "[::]:8081" gives "::"."""
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class EnrolmentSettings(BaseModel):
    """``[enrolment]``: `punchd enrol` (docs/enrolment.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The key fingerprint templates are encrypted with in the database: 32 random bytes,
    #: URL-safe base64 (`punchd enrol new-key`). None: templates are neither stored nor
    #: copied between clocks. Keep it out of the settings file's backups with the database.
    template_key: SecretStr | None = None
    #: whether `punchd run` runs `enrol apply` by itself (daily at ``daily_at`` and after
    #: roster changes): "auto" when any enabled device has ``enrol`` set, "on", "off"
    daemon: Literal["auto", "on", "off"] = "auto"
    #: site time of day of the daemon's daily `enrol apply` (a separation takes effect the
    #: day after the last day: after midnight)
    daily_at: str = "04:30"
    #: seconds between the daemon's looks at the roster (employees, cards): a change since
    #: the last look runs `enrol apply`; 0: only the daily run
    roster_check_every: float = Field(default=300.0, ge=0, le=86_400)

    @field_validator("daily_at")
    @classmethod
    def _daily_at(cls, value: str) -> str:
        parse_time_of_day(value)
        return value

    def runs_in_daemon(self, devices: Sequence[DeviceConfig]) -> bool:
        """Whether `punchd run` runs enrolment with these devices."""
        if self.daemon != "auto":
            return self.daemon == "on"
        return any(d.enabled and d.enrol != "none" for d in devices)

    @field_validator("template_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        import base64
        import binascii

        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value().strip().encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            # never the value itself: it is a secret even when malformed
            raise ValueError(
                "template_key must be 32 bytes in URL-safe base64 (44 characters); "
                "`punchd enrol new-key` makes one"
            )
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUNCHD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: SecretStr | None = None
    auto_upgrade: bool = True
    #: `employees import` reads at most this many rows below a roster file's header.
    max_roster_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    #: The site's IANA zone: manual punches are entered in it and processing judges "now"
    #: in it. None: the host's zone.
    timezone: str | None = None
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    push: PushSettings = Field(default_factory=PushSettings)
    periods: PeriodSettings = Field(default_factory=PeriodSettings)
    enrolment: EnrolmentSettings = Field(default_factory=EnrolmentSettings)
    devices: list[DeviceConfig] = Field(default_factory=list)

    # Where the file came from, for messages (not a setting).
    _source: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_by_driver(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for index, entry in enumerate(value):
            if isinstance(entry, DeviceConfig):
                out.append(entry)
                continue
            if not isinstance(entry, dict):
                raise ValueError(f"devices[{index}] must be a table")
            name = entry.get("driver")
            if not name:
                raise ValueError(f"devices[{index}]: 'driver' is required")
            try:
                model = get_driver(str(name)).config_model
            except UnknownDriver as exc:
                raise ValueError(f"devices[{index}]: {exc}") from None
            label = entry.get("name") or index
            try:
                device = model.model_validate(entry)
            except ValidationError as exc:
                raise ValueError(f"devices[{index}] ({label!r}): {_first_error(exc)}") from None
            if device.poll_every is not None:
                try:
                    check_poll_spec(device.poll_every)
                except ValueError as exc:
                    raise ValueError(f"devices[{index}] ({label!r}): poll_every: {exc}") from None
            out.append(device)
        return out

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for device in self.devices:
            if device.name in seen:
                raise ValueError(f"devices: the name {device.name!r} is used twice")
            seen.add(device.name)
        return self

    @model_validator(mode="after")
    def _unique_serials(self) -> Settings:
        # A push clock is known by its serial number alone: two entries with one serial
        # would make its punches land under whichever comes first.
        seen: dict[str, str] = {}
        for device in self.devices:
            serial = getattr(device, "serial", None)
            if device.driver != "adms" or not serial:
                continue
            if serial in seen:
                raise ValueError(
                    f"devices: the serial {serial!r} is used by {seen[serial]!r} and "
                    f"{device.name!r}"
                )
            seen[serial] = device.name
        return self

    @model_validator(mode="after")
    def _device_zones(self) -> Settings:
        # A device without its own ``timezone`` runs on the site's clock, not the host's
        # (timezones.device_zone): resolved once here, so every user of the configuration
        # (collection, clock check, status) reads the device in the same zone.
        if self.timezone is not None and any(d.timezone is None for d in self.devices):
            resolved = [
                d if d.timezone else d.model_copy(update={"timezone": self.timezone})
                for d in self.devices
            ]
            object.__setattr__(self, "devices", resolved)
        return self

    def device_zone(self, device: DeviceConfig) -> ZoneInfo:
        """The zone ``device``'s clock runs in (its own, else the site's, else the host's)."""
        return device_zone(device.timezone, self.timezone)

    def site_zone(self) -> ZoneInfo:
        """The site's zone: every time of day in the settings is on this wall clock."""
        return zone(self.timezone)

    @property
    def db_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'punchd.db'}"

    def device(self, name: str) -> DeviceConfig:
        for device in self.devices:
            if device.name == name:
                return device
        known = ", ".join(d.name for d in self.devices) or "none configured"
        raise ConfigError(f"no device named {name!r} (known: {known})")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
        if msg.startswith(f"{loc}["):  # already located by our own validator
            return msg
    return f"{loc}: {msg}" if loc else msg


def config_path(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if env := os.environ.get("PUNCHD_CONFIG"):
        return Path(env)
    local = Path("punchd.toml")
    return local if local.is_file() else None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read settings; every problem becomes one ``ConfigError`` naming key and cause."""
    path = config_path(path)
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None

    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            return tuple(sources)

    where = str(path) if path is not None else "environment"
    try:
        settings = _FromFile(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_error(exc)}") from None
    except UnknownDriver as exc:  # pragma: no cover - wrapped by the validator
        raise ConfigError(f"{where}: {exc}") from None
    object.__setattr__(settings, "_source", path)
    return settings
