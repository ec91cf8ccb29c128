"""Settings of the expert package, read once at the edge (environment or ``Config.extra``).

| variable | default | meaning |
|---|---|---|
| ``SUNLIT_EXPERTS_TZ`` | ``Asia/Shanghai`` | the centre's time zone: evaluation dates and times are local |
| ``SUNLIT_EXPERTS_ANSWER_WITHIN_S`` | ``7200`` | time an expert has to answer a summons; silence = decline |
| ``SUNLIT_EXPERTS_CHANNEL`` | ``log`` | summons channel: ``log``, ``email`` (.eml files), ``http`` (SMS/voice gateway) |
| ``SUNLIT_EXPERTS_GATEWAY_URL`` | — | the gateway's URL (``http`` channel): JSON is POSTed to it |
| ``SUNLIT_EXPERTS_GATEWAY_TOKEN`` | — | bearer token sent to the gateway |
| ``SUNLIT_EXPERTS_GATEWAY_KIND`` | ``sms`` | ``sms`` or ``voice`` |
| ``SUNLIT_EXPERTS_EML_DIR`` | ``<SUNLIT_DATA>/outbox`` | where the ``email`` channel writes ``.eml`` files |
| ``SUNLIT_EXPERTS_MAIL_FROM`` | ``noreply@sunlit.invalid`` | sender of those e-mails |
| ``SUNLIT_PUBLIC_URL`` | ``http://<host>:<port>`` | base of the answer links in summons |
| ``SUNLIT_CENTRE_NAME`` | — | the centre's name at the head of a summons |
| ``SUNLIT_EXPERTS_IMPORT_MAX_BYTES`` | ``67108864`` | largest CSV/JSON import accepted over HTTP |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["ExpertSettings"]


@dataclass(frozen=True)
class ExpertSettings:
    tz: ZoneInfo = ZoneInfo("Asia/Shanghai")
    answer_within_s: int = 7200
    channel: str = "log"
    gateway_url: str = ""
    gateway_token: str = ""
    gateway_kind: str = "sms"
    eml_dir: Path = Path("var/outbox")
    mail_from: str = "noreply@sunlit.invalid"
    public_url: str = "http://127.0.0.1:8080"
    centre_name: str = ""
    import_max_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_mapping(
        cls, env: Mapping[str, str], *, data_dir: Path, host: str, port: int
    ) -> ExpertSettings:
        channel = env.get("SUNLIT_EXPERTS_CHANNEL", "log")
        if channel not in ("log", "email", "http", "memory"):
            raise ValueError(f"SUNLIT_EXPERTS_CHANNEL must be log, email or http (got {channel!r})")
        if channel == "http" and not env.get("SUNLIT_EXPERTS_GATEWAY_URL"):
            raise ValueError("SUNLIT_EXPERTS_CHANNEL=http needs SUNLIT_EXPERTS_GATEWAY_URL")
        answer = int(env.get("SUNLIT_EXPERTS_ANSWER_WITHIN_S", "7200"))
        if not 60 <= answer <= 7 * 86400:
            raise ValueError("SUNLIT_EXPERTS_ANSWER_WITHIN_S must be 60 to 604800 seconds")
        return cls(
            tz=ZoneInfo(env.get("SUNLIT_EXPERTS_TZ", "Asia/Shanghai")),
            answer_within_s=answer,
            channel=channel,
            gateway_url=env.get("SUNLIT_EXPERTS_GATEWAY_URL", ""),
            gateway_token=env.get("SUNLIT_EXPERTS_GATEWAY_TOKEN", ""),
            gateway_kind=env.get("SUNLIT_EXPERTS_GATEWAY_KIND", "sms"),
            eml_dir=Path(env.get("SUNLIT_EXPERTS_EML_DIR", str(data_dir / "outbox"))),
            mail_from=env.get("SUNLIT_EXPERTS_MAIL_FROM", "noreply@sunlit.invalid"),
            public_url=env.get("SUNLIT_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            centre_name=env.get("SUNLIT_CENTRE_NAME", ""),
            import_max_bytes=int(env.get("SUNLIT_EXPERTS_IMPORT_MAX_BYTES", str(64 * 1024 * 1024))),
        )
