"""Use cases for parties: create organisations and users, log in, resolve a session, register keys.

Every writing use case runs in one transaction and appends to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trading.audit import AuditLog
from trading.context import Actor, Role
from trading.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from trading.parties.model import (
    LOGIN_ROLES,
    ROLES_NEEDING_ORG,
    Organisation,
    OrgKind,
    PartyKey,
    User,
    uscc_valid,
)
from trading.parties.sessions import SESSIONS_CHANNEL, SessionCache, session_notice, user_notice

_hasher = PasswordHasher()
# A hash of a random password, verified against when the user is unknown so that timing does
# not tell which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LEN = 10


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _org(r: asyncpg.Record) -> Organisation:
    return Organisation(
        r["id"], r["name"], OrgKind(r["kind"]), r["credit_code"], r["region"], r["platform_affiliate"], r["created_at"]
    )


def _user(r: asyncpg.Record) -> User:
    return User(r["id"], r["username"], r["full_name"], Role(r["role"]), r["org_id"], r["active"], r["created_at"])


def _key(r: asyncpg.Record) -> PartyKey:
    return PartyKey(
        r["id"], r["org_id"], r["user_id"], r["algorithm"], bytes(r["public_key"]), r["label"], r["created_at"], r["revoked_at"]
    )


async def create_organisation(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    name: str,
    kind: OrgKind,
    credit_code: str,
    region: str = "",
    platform_affiliate: bool = False,
) -> Organisation:
    if not uscc_valid(credit_code):
        raise ValidationFailed(
            f"credit_code {credit_code!r} is not a valid 18-character unified social credit code (check character wrong or bad characters)",
            f"统一社会信用代码 {credit_code!r} 无效（校验位错误或含非法字符）",
            code="invalid_credit_code",
        )
    async with conn.transaction():
        try:
            r = await conn.fetchrow(
                "INSERT INTO organisations (name, kind, credit_code, region, platform_affiliate, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                name, kind.value, credit_code, region, platform_affiliate, now,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"an organisation with credit code {credit_code} already exists",
                f"统一社会信用代码为 {credit_code} 的机构已存在",
                code="organisation_exists",
            ) from None
        org = _org(r)
        await audit.append(
            conn, actor=actor, action="organisation.create", object_type="organisation", object_id=org.id,
            at=now, payload={"name": name, "kind": kind.value, "credit_code": credit_code},
        )
    return org


async def get_organisation(conn: asyncpg.Connection, org_id: int) -> Organisation:
    r = await conn.fetchrow("SELECT * FROM organisations WHERE id = $1", org_id)
    if r is None:
        raise NotFound(f"organisation {org_id} not found", f"机构 {org_id} 不存在", code="organisation_not_found")
    return _org(r)


async def list_organisations(conn: asyncpg.Connection, *, kind: OrgKind | None = None) -> list[Organisation]:
    rows = await conn.fetch(
        "SELECT * FROM organisations WHERE ($1::text IS NULL OR kind = $1) ORDER BY id", kind.value if kind else None
    )
    return [_org(r) for r in rows]


async def create_user(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    org_id: int | None = None,
) -> User:
    problems: list[dict[str, str]] = []
    if role not in LOGIN_ROLES:
        problems.append({"field": "role", "problem": f"role {role} cannot log in"})
    if len(password) < MIN_PASSWORD_LEN:
        problems.append({"field": "password", "problem": f"at least {MIN_PASSWORD_LEN} characters"})
    if role in ROLES_NEEDING_ORG and org_id is None:
        problems.append({"field": "org_id", "problem": f"a {role} user belongs to an organisation"})
    if problems:
        raise ValidationFailed(
            "the user cannot be created: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
            "无法创建用户：" + "；".join(f"{p['field']}：{p['problem']}" for p in problems),
            details={"errors": problems},
        )
    password_hash = _hasher.hash(password)
    async with conn.transaction():
        if org_id is not None:
            await get_organisation(conn, org_id)
        try:
            r = await conn.fetchrow(
                "INSERT INTO users (username, full_name, role, org_id, password_hash, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                username, full_name, role.value, org_id, password_hash, now,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"username {username!r} is taken", f"用户名 {username!r} 已被占用", code="username_taken") from None
        except asyncpg.CheckViolationError:
            raise ValidationFailed(
                "username must be 3–40 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
                "用户名须为 3–40 个字符（a-z、0-9、_ . -），以字母或数字开头",
                code="invalid_username",
            ) from None
        user = _user(r)
        await audit.append(
            conn, actor=actor, action="user.create", object_type="user", object_id=user.id, at=now,
            payload={"username": username, "role": role.value, "org_id": org_id},
        )
    return user


async def get_user(conn: asyncpg.Connection, user_id: int) -> User:
    r = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    if r is None:
        raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在", code="user_not_found")
    return _user(r)


async def find_user(conn: asyncpg.Connection, username: str) -> User | None:
    r = await conn.fetchrow("SELECT * FROM users WHERE username = $1", username)
    return _user(r) if r else None


async def list_users(conn: asyncpg.Connection, *, org_id: int | None = None, role: Role | None = None) -> list[User]:
    rows = await conn.fetch(
        "SELECT * FROM users WHERE ($1::bigint IS NULL OR org_id = $1) AND ($2::text IS NULL OR role = $2) ORDER BY id",
        org_id, role.value if role else None,
    )
    return [_user(r) for r in rows]


async def login(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, username: str, password: str, ttl_s: int
) -> tuple[str, User, datetime]:
    """Check the password; on success open a session and return its bearer token (shown once)."""
    r = await conn.fetchrow("SELECT * FROM users WHERE username = $1", username)
    stored = r["password_hash"] if r is not None else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if r is None or not ok or not r["active"]:
        # the edge records the denied attempt in the audit log
        raise Unauthenticated(
            "wrong username or password, or the account is disabled",
            "用户名或密码错误，或账户已停用",
            code="bad_credentials",
        )
    user = _user(r)
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=ttl_s)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            hash_token(token), user.id, now, expires_at,
        )
        if _hasher.check_needs_rehash(stored):
            await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user.id, _hasher.hash(password))
        who = Actor(user.id, user.username, user.role, user.org_id, actor.client_addr, actor.request_id)
        await audit.append(conn, actor=who, action="session.login", object_type="user", object_id=user.id, at=now)
    return token, user, expires_at


async def lookup_session(conn: asyncpg.Connection, token_hash: bytes, now: datetime) -> tuple[User, datetime]:
    """The user behind a session and the session's expiry; Unauthenticated if unknown,
    expired or revoked, or the user is disabled."""
    r = await conn.fetchrow(
        "SELECT u.*, s.expires_at, s.revoked_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        token_hash,
    )
    if r is None:
        raise Unauthenticated("the bearer token is not valid; log in again", "令牌无效，请重新登录", code="invalid_token")
    if r["revoked_at"] is not None or r["expires_at"] <= now or not r["active"]:
        raise Unauthenticated("the session has expired or was ended; log in again", "会话已过期或已注销，请重新登录", code="session_expired")
    return _user(r), r["expires_at"]


async def resolve_session(conn: asyncpg.Connection, token: str, now: datetime) -> User:
    """The user behind a bearer token; Unauthenticated if unknown, expired or revoked."""
    return (await lookup_session(conn, hash_token(token), now))[0]


async def resolve_cached(cache: SessionCache | None, pool: asyncpg.Pool, token: str, now: datetime) -> User:
    """``resolve_session`` through the process's session cache (``trading.parties.sessions``):
    no database round trip while the session is fresh in it, one at a time when it is not."""
    key = hash_token(token)

    async def read() -> tuple[User, datetime]:
        async with pool.acquire() as conn:
            return await lookup_session(conn, key, now)

    if cache is None:
        return (await read())[0]
    user = cache.get(key, now)
    if user is not None:
        return user
    return await cache.lookup(key, now, read)


async def logout(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, token: str, sessions: SessionCache | None = None
) -> None:
    """End a session; after the commit no server's cache holds it (this process's at once,
    the others' when they hear the notice)."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL", hash_token(token), now
        )
        await audit.append(conn, actor=actor, action="session.logout", object_type="user", object_id=actor.user_id or 0, at=now)
        await conn.execute("SELECT pg_notify($1, $2)", SESSIONS_CHANNEL, session_notice(hash_token(token)))
    if sessions is not None:
        sessions.forget_session(hash_token(token))


async def change_role(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    user_id: int,
    role: Role,
    sessions: SessionCache | None = None,
) -> User:
    """Give a user another role (an administrator's act). Their open sessions stay open with
    the new role: after the commit this process's cache holds none of them, so the very next
    request is checked against the new role (other servers: when they hear the notice).
    Nobody changes their own role: an administrator cannot lock the platform out by mistake."""
    if actor.user_id == user_id:
        raise Forbidden("you may not change your own role; another administrator can", "不能更改自己的角色，请由另一位管理员操作",
                        code="own_role")
    async with conn.transaction():
        r = await conn.fetchrow("SELECT * FROM users WHERE id = $1 FOR UPDATE", user_id)
        if r is None:
            raise NotFound(f"user {user_id} not found", f"用户 {user_id} 不存在", code="user_not_found")
        before = _user(r)
        if role not in LOGIN_ROLES:
            problem, zh = f"role {role} cannot log in", f"角色 {role} 不能登录"
        elif role in ROLES_NEEDING_ORG and before.org_id is None:
            problem, zh = f"a {role} user belongs to an organisation; this user has none", f"{role} 用户须隶属机构，此用户未隶属任何机构"
        else:
            problem = zh = ""
        if problem:
            raise ValidationFailed(
                f"the role cannot be changed: {problem}", f"无法更改角色：{zh}", code="invalid_role",
                details={"errors": [{"field": "role", "problem": problem, "type": "invalid_role"}]},
            )
        user = _user(await conn.fetchrow("UPDATE users SET role = $2 WHERE id = $1 RETURNING *", user_id, role.value))
        await audit.append(
            conn, actor=actor, action="user.role_change", object_type="user", object_id=user_id, at=now,
            payload={"role": role.value}, detail={"from": before.role.value, "to": role.value},
        )
        await conn.execute("SELECT pg_notify($1, $2)", SESSIONS_CHANNEL, user_notice(user_id))
    if sessions is not None:
        sessions.forget_user(user_id)
    return user


async def register_key(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    public_key: bytes,
    algorithm: str = "ed25519",
    label: str = "",
) -> PartyKey:
    if len(public_key) != 32:
        raise ValidationFailed(
            "public_key must be 32 bytes (Ed25519 raw public key, base64url or hex)",
            "公钥须为 32 字节（Ed25519 原始公钥，base64url 或十六进制）",
            code="invalid_public_key",
        )
    assert actor.user_id is not None
    async with conn.transaction():
        try:
            r = await conn.fetchrow(
                "INSERT INTO party_keys (org_id, user_id, algorithm, public_key, label, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                actor.org_id, actor.user_id, algorithm, public_key, label, now,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict("this public key is already registered", "该公钥已登记", code="key_exists") from None
        key = _key(r)
        await audit.append(
            conn, actor=actor, action="key.register", object_type="party_key", object_id=key.id, at=now,
            payload={"algorithm": algorithm, "public_key": public_key.hex()},
        )
    return key


async def active_keys(
    conn: asyncpg.Connection, *, org_id: int | None = None, user_id: int | None = None, algorithm: str = "ed25519"
) -> list[PartyKey]:
    rows = await conn.fetch(
        "SELECT * FROM party_keys WHERE revoked_at IS NULL AND algorithm = $3 "
        "AND ($1::bigint IS NULL OR org_id = $1) AND ($2::bigint IS NULL OR user_id = $2) ORDER BY id",
        org_id, user_id, algorithm,
    )
    return [_key(r) for r in rows]


async def not_custodians(conn: asyncpg.Connection, user_ids: Iterable[int]) -> list[int]:
    """Those of ``user_ids`` that are not active users with the custodian role (unknown ones
    included), in their order: who may not hold a share of a tender's or a lot's key."""
    bad: list[int] = []
    for uid in user_ids:
        try:
            user = await get_user(conn, uid)
        except NotFound:
            bad.append(uid)
            continue
        if user.role is not Role.CUSTODIAN or not user.active:
            bad.append(uid)
    return bad


async def x25519_keys(conn: asyncpg.Connection, user_ids: Iterable[int]) -> dict[int, bytes]:
    """Each user's X25519 public key, the last registered (a custodian's, to seal its share
    to); a user without one is left out."""
    keys: dict[int, bytes] = {}
    for uid in user_ids:
        registered = await active_keys(conn, user_id=uid, algorithm="x25519")
        if registered:
            keys[uid] = registered[-1].public_key
    return keys
