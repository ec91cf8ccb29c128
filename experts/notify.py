"""Summons to experts: the message (time and place, never the project — E6) and the
pluggable channels that carry it.

A ``Summons`` holds only what an expert needs to decide whether to come: the date, the
time and the number of days of the sitting, the place, when to answer by, and the one-time
link to answer with. It has no field for the tender, the tenderee or the bidders, so no
template can leak them (a test renders every template and checks).

Channels (``Channel`` protocol: ``name`` and ``async send(summons) -> provider reference``):

- ``LogChannel``: writes the message, link included, to the ``sunlit.experts.summons``
  logger. For the demo and development only: the link in a log is a credential.
- ``EmlFileChannel``: writes one RFC 5322 ``.eml`` file per message into a directory (by
  default ``<SUNLIT_DATA>/outbox/``) for a mail relay or an operator to pick up. It does not
  speak SMTP itself.
- ``MemoryChannel``: keeps the messages in a list (tests).
- The SMS / voice gateway over HTTP is an adapter in the web layer
  (``web.experts.HttpGatewayChannel``: an aiohttp client POSTing JSON to a configured URL),
  because domain packages do not import aiohttp.

A channel raises ``DeliveryFailed`` when the message did not go out; the outbox retries.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "Channel",
    "DeliveryFailed",
    "EmlFileChannel",
    "LogChannel",
    "MemoryChannel",
    "Summons",
    "render",
]

log = logging.getLogger("sunlit.experts.summons")


class DeliveryFailed(Exception):
    """The channel could not hand the message over; the outbox will try again."""


@dataclass(frozen=True, slots=True)
class Summons:
    """A summons to sit on an evaluation committee: time and place only (E6)."""

    expert_name: str
    phone: str
    email: str
    language: str  # "zh" or "en"
    evaluation_date: date
    evaluation_time: time
    evaluation_days: int
    place: str
    answer_by: datetime  # aware
    link: str  # the one-time answer link (GET shows, POST …/confirm or …/decline)
    centre: str = ""  # who calls: the trading centre's name, not the tender's

    def __repr__(self) -> str:  # the link is a credential
        return f"Summons(to={self.expert_name!r}, date={self.evaluation_date}, link=<hidden>)"


def _answer_by_local(s: Summons, tz: ZoneInfo) -> str:
    return s.answer_by.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def render(s: Summons, tz: ZoneInfo) -> tuple[str, str]:
    """``(subject, text)`` in the expert's language. Never names the project (E6)."""
    days_zh = f"，共{s.evaluation_days}天" if s.evaluation_days > 1 else ""
    days_en = f", for {s.evaluation_days} days" if s.evaluation_days > 1 else ""
    when = s.evaluation_date.isoformat()
    at = s.evaluation_time.strftime("%H:%M")
    by = _answer_by_local(s, tz)
    centre_zh = f"【{s.centre}】" if s.centre else ""
    if s.language == "en":
        subject = "Summons to an evaluation committee"
        text = (
            f"{s.centre + ': ' if s.centre else ''}Dear {s.expert_name}, you have been drawn to sit on an "
            f"evaluation committee on {when} at {at}{days_en}, at {s.place}. Please confirm or decline "
            f"by {by}: {s.link} — no answer by then counts as declining. Do not disclose this summons."
        )
    else:
        subject = "评标专家抽取通知"
        text = (
            f"{centre_zh}{s.expert_name}专家您好：您被抽取参加评标，时间 {when} {at}{days_zh}，"
            f"地点 {s.place}。请于 {by} 前确认是否参加：{s.link} 。逾期未答复视为不参加。请勿泄露本通知内容。"
        )
    return subject, text


class Channel(Protocol):
    name: str

    async def send(self, summons: Summons) -> str:
        """Hand the message over; return the channel's reference. Raise ``DeliveryFailed``."""
        ...


class LogChannel:
    """Demo channel: the message goes to the log (with the answer link)."""

    name = "log"

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self.count = 0

    async def send(self, summons: Summons) -> str:
        subject, text = render(summons, self._tz)
        self.count += 1
        log.info("summons to %s: %s", summons.expert_name, text)
        return f"log-{self.count}"


@dataclass
class MemoryChannel:
    """Test channel: keeps every summons it was given; ``fail_next`` makes sends fail."""

    tz: ZoneInfo
    name: str = "memory"
    sent: list[Summons] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, summons: Summons) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryFailed("memory channel told to fail")
        self.sent.append(summons)
        return f"mem-{len(self.sent)}"

    def texts(self) -> list[str]:
        return [render(s, self.tz)[1] for s in self.sent]

    def token_of(self, expert_name: str) -> str:
        """The answer token of the last summons to ``expert_name``."""
        for s in reversed(self.sent):
            if s.expert_name == expert_name:
                return token_from_link(s.link)
        raise LookupError(f"no summons to {expert_name}")


_TOKEN = re.compile(r"/summons/([A-Za-z0-9_-]+)$")


def token_from_link(link: str) -> str:
    m = _TOKEN.search(link)
    if m is None:
        raise ValueError("not a summons link")
    return m.group(1)


class EmlFileChannel:
    """E-mail as ``.eml`` files in a directory (a relay or an operator sends them on)."""

    name = "email"

    def __init__(self, directory: Path, sender: str, tz: ZoneInfo) -> None:
        self._dir = directory
        self._sender = sender
        self._tz = tz

    async def send(self, summons: Summons) -> str:
        if not summons.email:
            raise DeliveryFailed("the expert has no e-mail address")
        subject, text = render(summons, self._tz)
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = summons.email
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.now(self._tz))
        msg_id = make_msgid(domain="sunlit.invalid")
        msg["Message-ID"] = msg_id
        msg.set_content(text)
        self._dir.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.@-]", "_", msg_id.strip("<>")) + ".eml"
        path = self._dir / name
        try:
            path.write_bytes(bytes(msg))
            path.chmod(0o600)
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {path}: {exc}") from exc
        return msg_id
