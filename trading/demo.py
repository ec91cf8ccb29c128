"""Demo data: a small, realistic trading centre. Loading is idempotent: what exists is kept,
and passwords are printed only when a user is first created (and kept, 0600, in
``<data dir>/demo-credentials.txt`` so a newcomer can find them again)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor, Role
from trading.parties import service as parties
from trading.parties.model import OrgKind, uscc_check_char


def demo_credit_code(n: int) -> str:
    """A valid unified social credit code for demo organisation number ``n`` (Huzhou, 330500)."""
    first17 = f"91330500MA2{n:06d}"
    return first17 + uscc_check_char(first17)


ORGANISATIONS: list[tuple[str, str, OrgKind, bool]] = [
    ("centre", "湖州市公共资源交易中心", OrgKind.CENTRE, True),
    ("tenderee", "湖州市交通投资集团有限公司", OrgKind.TENDEREE, False),
    ("agency", "浙江华诚工程咨询有限公司", OrgKind.AGENCY, False),
    ("bidder_a", "浙江宏远建设集团有限公司", OrgKind.BIDDER, False),
    ("bidder_b", "湖州市路桥建设有限公司", OrgKind.BIDDER, False),
    ("bidder_c", "德清县交通工程有限公司", OrgKind.BIDDER, False),
    ("bidder_d", "长兴县恒达建设有限公司", OrgKind.BIDDER, False),
    ("supervisor_dept", "湖州市发展和改革委员会", OrgKind.SUPERVISOR_DEPT, False),
    ("bank", "中国工商银行湖州分行", OrgKind.BANK, False),
]

USERS: list[tuple[str, str, Role, str | None]] = [
    ("admin", "系统管理员 Admin", Role.ADMIN, "centre"),
    ("staff1", "王敏 Wang Min", Role.STAFF, "centre"),
    ("staff2", "李强 Li Qiang", Role.STAFF, "centre"),
    ("supervisor1", "陈静 Chen Jing", Role.SUPERVISOR, "supervisor_dept"),
    ("custodian1", "赵磊 Zhao Lei", Role.CUSTODIAN, "centre"),
    ("custodian2", "周婷 Zhou Ting", Role.CUSTODIAN, "tenderee"),
    ("custodian3", "吴刚 Wu Gang", Role.CUSTODIAN, "supervisor_dept"),
    ("bidder1", "孙浩 Sun Hao", Role.BIDDER, "bidder_a"),
    ("bidder2", "郑洁 Zheng Jie", Role.BIDDER, "bidder_b"),
    ("bidder3", "钱伟 Qian Wei", Role.BIDDER, "bidder_c"),
    ("bidder4", "冯雪 Feng Xue", Role.BIDDER, "bidder_d"),
    ("expert1", "许建国 Xu Jianguo", Role.EXPERT, None),
]


@dataclass
class DemoContext:
    """Handed to each package's demo loader: what the core created, and where to report."""

    pool: asyncpg.Pool
    audit: AuditLog
    now: datetime
    data_dir: Path
    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        return Actor.system("demo")


async def load(ctx: DemoContext) -> None:
    created: list[tuple[str, str, str]] = []
    async with ctx.pool.acquire() as conn:
        for i, (key, name, kind, affiliate) in enumerate(ORGANISATIONS, start=1):
            code = demo_credit_code(i)
            oid = await conn.fetchval("SELECT id FROM organisations WHERE credit_code = $1", code)
            if oid is None:
                org = await parties.create_organisation(
                    conn, ctx.audit, ctx.actor, ctx.now, name=name, kind=kind, credit_code=code,
                    region="330500", platform_affiliate=affiliate,
                )
                oid = org.id
            ctx.orgs[key] = oid
        for username, full_name, role, org_key in USERS:
            user = await parties.find_user(conn, username)
            if user is None:
                password = secrets.token_urlsafe(9)
                user = await parties.create_user(
                    conn, ctx.audit, ctx.actor, ctx.now, username=username, full_name=full_name, role=role,
                    password=password, org_id=ctx.orgs[org_key] if org_key else None,
                )
                created.append((username, str(role), password))
            ctx.users[username] = user.id
    if created:
        path = ctx.data_dir / "demo-credentials.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            for username, role, password in created:
                f.write(f"{username}\t{role}\t{password}\n")
        ctx.lines.append("Demo users created (passwords shown once; also in " + str(path) + "):")
        ctx.lines.extend(f"  {u:<12} {r:<11} {p}" for u, r, p in created)
    else:
        ctx.lines.append(f"Demo data present; passwords are in {ctx.data_dir / 'demo-credentials.txt'}")


async def ensure_users(
    ctx: DemoContext, users: list[tuple[str, str, Role, int | None]]
) -> dict[str, int]:
    """More demo users (username, full name, role, organisation id), made like the core's:
    created once, each password appended to ``demo-credentials.txt`` and printed once."""
    created: list[tuple[str, str, str]] = []
    ids: dict[str, int] = {}
    async with ctx.pool.acquire() as conn:
        for username, full_name, role, org_id in users:
            user = await parties.find_user(conn, username)
            if user is None:
                password = secrets.token_urlsafe(9)
                user = await parties.create_user(
                    conn, ctx.audit, ctx.actor, ctx.now, username=username, full_name=full_name,
                    role=role, password=password, org_id=org_id,
                )  # fmt: skip
                created.append((username, str(role), password))
            ids[username] = ctx.users[username] = user.id
    if created:
        path = ctx.data_dir / "demo-credentials.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            for username, role, password in created:
                f.write(f"{username}\t{role}\t{password}\n")
        ctx.lines.extend(f"  {u:<12} {r:<11} {p}" for u, r, p in created)
    return ids
