"""Money in: the bank's signed notifications (D1, D2, D3) — a credit confirms a deposit or
goes to suspense, a reversal takes one back — and the bank's keys; collusion named at the
opening (D3)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from trading.audit import AuditLog
from trading.calendar.events import EventContext, schedule
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import ValidationFailed
from trading.notices import add_notice
from trading.supervision import raise_alert

from .. import store
from ..errors import LedgerReason
from ..model import (
    CHINA_TZ,
    BankNotification,
    NotificationKind,
    NotificationOutcome,
    NotificationVerdict,
    SuspenseReason,
)
from ..reconcile import format_fen
from ..rules.decisions import decide_credit, decide_reversal
from ..rules.notifications import (
    check_sequence,
    classify_notification,
    notification_problems,
    verify_notification,
)
from ..rules.payers import detect_collusion, normalize_bank_account
from ..rules.refunds import SUSPENSE_RETURN_DAYS
from .context import REFUND_DUE, UNSEAL, Ledger, end_of_china_day, get_terms, is_sealed
from .transfers import write

__all__ = [
    "on_unseal",
    "receive_notification",
    "register_bank_key",
    "take_notification",
    "verify_with_any",
]

_V = NotificationVerdict


def verify_with_any(n: BankNotification, signature: bytes, keys: Iterable[bytes]) -> bool:
    """True when one of the bank's active keys signed ``notification_message(n)``."""
    return any(verify_notification(n, signature, k) for k in keys)


# == the ledger's part ==========================================================================


async def take_notification(
    lg: Ledger, n: BankNotification, signature: bytes, at: datetime
) -> NotificationOutcome:
    """A bank message, checked in this order: signature, form, duplicate (the first outcome
    again, ``replayed``), sequence; then a credit confirms or goes to suspense, a reversal
    takes back the credit it names. The message counter is locked first, so messages are
    taken one at a time."""
    keys = await lg.trusted_keys()
    if not keys:
        raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(
            "no bank key is trusted yet: set SUNLIT_BANK_PUBLIC_KEY or POST /api/v1/ledger/bank-keys",
            "尚未登记银行公钥：请设置 SUNLIT_BANK_PUBLIC_KEY 或调用 POST /api/v1/ledger/bank-keys",
        )
    if not verify_with_any(n, signature, keys):
        raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(str(n.bank_ref))
    problems = notification_problems(n)
    if problems:
        raise LedgerReason.NOTIFICATION_MALFORMED.reject("; ".join(problems), errors=problems)
    conn = lg.conn
    async with conn.transaction():
        last = await store.lock_last_seq(conn)
        seen = await store.get_notification(conn, n.bank_ref)
        if seen is not None:
            verdict, _ = classify_notification(n, seen=seen[0], terms=None, deposit=None)
            assert verdict is _V.DUPLICATE
            if n.seq == last + 1:  # the bank numbered this message: keep in step
                await store.set_last_seq(conn, n.seq)
            return replace(seen[1], replayed=True)
        refused = check_sequence(last, n.seq)
        if refused is not None:
            raise refused.reject(f"seq {n.seq} after {last}", last_seq=last)
        deposit = None
        if n.kind is NotificationKind.CREDIT:
            held = await store.get_suspense(conn, n.bank_ref, for_update=True)
            terms = None
            if held is None:
                deposit = await store.get_deposit_by_sub_account(
                    conn, n.sub_account, for_update=True
                )
                terms = await store.get_project(conn, deposit.project_id) if deposit else None
            effects, outcome = decide_credit(n, deposit=deposit, terms=terms, held=held)
        else:
            assert n.reverses_ref is not None
            was = await store.get_notification(conn, n.reverses_ref)
            original = was[0] if was else None
            if original is not None:
                deposit = await store.get_deposit_by_sub_account(
                    conn, original.sub_account, for_update=True
                )
            suspense = await store.get_suspense(conn, n.reverses_ref, for_update=True)
            effects, outcome = decide_reversal(
                n, original=original, deposit=deposit, suspense=suspense
            )
        await write(lg, effects, at, was=deposit)
        await store.insert_notification(conn, n, bytes(signature), outcome, at)
        await store.set_last_seq(conn, n.seq)
    return outcome


# == the use cases at the edge ==================================================================


async def receive_notification(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    notification: BankNotification,
    signature: bytes,
) -> NotificationOutcome:
    """A signed message from the bank (D1, D2, D3): see ``take_notification``; then the
    audit entry, the bidder's notice, a collusion check, alerts. A repeat answers the first
    outcome and changes nothing."""
    async with conn.transaction():
        outcome = await take_notification(Ledger(conn, now), notification, signature, now)
        if outcome.replayed:
            return outcome
        n = notification
        await audit.append(
            conn,
            actor=actor,
            action="ledger.bank.notification",
            object_type="bank_movement",
            object_id=n.bank_ref,
            at=now,
            payload={"seq": n.seq, "sub_account": n.sub_account, "amount_fen": n.amount_fen},
            detail={
                "verdict": outcome.verdict.value,
                "suspense_reason": outcome.suspense_reason.value
                if outcome.suspense_reason
                else None,
            },
        )
        verdict = outcome.verdict
        if verdict is _V.CONFIRM:
            assert outcome.project_id is not None and outcome.bidder_id is not None
            await _after_confirm(conn, now, outcome.project_id, outcome.bidder_id, n)
        elif verdict is _V.SUSPENSE:
            await _after_suspense(conn, now, n, outcome)
        elif verdict is _V.REVERSE_DEPOSIT:
            assert outcome.project_id is not None and outcome.bidder_id is not None
            await add_notice(
                conn,
                now,
                org_id=int(outcome.bidder_id),
                object_type="project",
                object_id=outcome.project_id,
                subject=f"保证金被银行冲正 Deposit reversed by the bank ({outcome.project_id})",
                body=f"银行冲正了流水 {n.reverses_ref}，保证金恢复为未到账。The bank reversed {n.reverses_ref}: "
                "the deposit is no longer confirmed.",
            )
            await raise_alert(
                conn,
                now,
                kind="ledger.reversal",
                severity="warning",
                object_type="project",
                object_id=outcome.project_id,
                message_en=f"The bank reversed a confirmed deposit in {outcome.project_id} ({n.reverses_ref})",
                message_zh=f"银行冲正了 {outcome.project_id} 的一笔已确认保证金（{n.reverses_ref}）",
                detail={"bank_ref": n.bank_ref, "reverses_ref": n.reverses_ref},
                dedup_key=f"ledger.reversal:{n.bank_ref}",
            )
        elif verdict is _V.UNAPPLIED:
            await raise_alert(
                conn,
                now,
                kind="ledger.unapplied_reversal",
                severity="warning",
                object_type="bank_movement",
                object_id=n.bank_ref,
                message_en=f"A bank reversal could not be applied: {outcome.detail}",
                message_zh=f"银行冲正无法入账：{outcome.detail}",
                detail={"reverses_ref": n.reverses_ref},
                dedup_key=f"ledger.unapplied:{n.bank_ref}",
            )
    return outcome


async def _after_confirm(
    conn: asyncpg.Connection, now: datetime, project_ref: str, bidder: str, n: BankNotification
) -> None:
    await add_notice(
        conn,
        now,
        org_id=int(bidder),
        object_type="project",
        object_id=project_ref,
        subject=f"保证金已确认 Deposit confirmed ({project_ref})",
        body=f"已收到保证金 {format_fen(n.amount_fen)} 元（流水 {n.bank_ref}）。"
        f"Deposit of {format_fen(n.amount_fen)} yuan received (bank reference {n.bank_ref}).",
    )
    norm = normalize_bank_account(n.payer_account)
    if not norm:
        return
    same = await store.same_payer_deposits(conn, project_ref, norm)
    bidders = sorted({d.bidder_id for d in same})
    if len(bidders) < 2:
        return
    terms = await get_terms(conn, project_ref)
    sealed = is_sealed(terms, now)
    detail: dict[str, Any] = {"project_ref": project_ref, "bidders": len(bidders)}
    if sealed:
        detail["sealed_until"] = iso_ms(terms.unsealed_at)  # type: ignore[arg-type]
        assert terms.unsealed_at is not None
        await schedule(conn, kind=UNSEAL, ref=project_ref, due_at=terms.unsealed_at, now=now)
    else:
        detail |= {
            "payer_account": n.payer_account,
            "org_ids": [int(b) for b in bidders],
            "bank_refs": sorted(d.bank_ref for d in same if d.bank_ref),
        }
    await raise_alert(
        conn,
        now,
        kind="ledger.collusion",
        severity="warning",
        object_type="project",
        object_id=project_ref,
        message_en=f"Deposits of {len(bidders)} different bidders in {project_ref} were paid from one bank account "
        "(IR 40(6))" + (" — who, sealed until the opening" if sealed else ""),
        message_zh=f"{project_ref} 中 {len(bidders)} 个不同投标人的保证金从同一银行账户转出（实施条例第四十条第六项）"
        + ("——身份在开标前保密" if sealed else ""),
        detail=detail,
        dedup_key=f"ledger.collusion:{project_ref}:{norm}:{bidder}",
    )


async def _after_suspense(
    conn: asyncpg.Connection, now: datetime, n: BankNotification, outcome: NotificationOutcome
) -> None:
    if outcome.suspense_reason is SuspenseReason.CURRENCY_NOT_CNY and not outcome.transfer_id:
        if "statement" in outcome.detail:  # already held aside from a statement
            return
        # Never booked, so no CNY return is due: staff return it with the bank by hand.
        await raise_alert(
            conn,
            now,
            kind="ledger.currency_not_cny",
            severity="warning",
            object_type="bank_movement",
            object_id=n.bank_ref,
            message_en=f"The bank notified {n.bank_ref} in {n.currency}, not CNY: held aside, not booked; "
            "return it with the bank by hand",
            message_zh=f"银行通知的流水 {n.bank_ref} 币种为 {n.currency}，不是人民币：已挂账待处理，未入账；"
            "请与银行人工办理退回",
            detail={"currency": n.currency, "amount_minor": n.amount_fen},
            dedup_key=f"ledger.currency_not_cny:{n.bank_ref}",
        )
        return
    if outcome.detail:  # already in suspense from a statement: nothing new
        return
    await schedule(
        conn,
        kind=REFUND_DUE,
        ref=f"suspense:{n.bank_ref}",
        now=now,
        due_at=end_of_china_day(
            n.value_at.astimezone(CHINA_TZ).date() + timedelta(days=SUSPENSE_RETURN_DAYS)
        ),
        payload={"suspense": n.bank_ref},
    )
    if outcome.project_id and outcome.bidder_id:
        reason = outcome.suspense_reason.value if outcome.suspense_reason else ""
        await add_notice(
            conn,
            now,
            org_id=int(outcome.bidder_id),
            object_type="project",
            object_id=outcome.project_id,
            subject=f"保证金未能确认 Deposit not confirmed ({outcome.project_id})",
            body=f"流水 {n.bank_ref} 的 {format_fen(n.amount_fen)} 元未能确认为保证金（{reason}），将原路退回。"
            f"The {format_fen(n.amount_fen)} yuan of {n.bank_ref} could not confirm the deposit ({reason}); "
            "it will be returned to the payer.",
        )


async def on_unseal(ctx: EventContext) -> None:
    """``ledger.unseal``: at a tender's opening, name the bidders whose deposits came from one
    account (D3), now that payers may be seen (D1)."""
    project_ref = ctx.event.ref
    deposits = await store.list_deposits(ctx.conn, project_id=project_ref)
    for alert in detect_collusion(deposits):
        await raise_alert(
            ctx.conn,
            ctx.now,
            kind="ledger.collusion",
            severity="warning",
            object_type="project",
            object_id=project_ref,
            message_en=f"At the opening of {project_ref}: organisations {', '.join(alert.bidder_ids)} paid their "
            f"deposits from one bank account (IR 40(6))",
            message_zh=f"{project_ref} 开标：机构 {'、'.join(alert.bidder_ids)} 的保证金从同一银行账户转出（实施条例第四十条第六项）",
            detail={
                "project_ref": project_ref,
                "payer_account": alert.payer_account,
                "org_ids": [int(b) for b in alert.bidder_ids],
                "bank_refs": list(alert.bank_refs),
            },
            dedup_key=f"ledger.collusion.unsealed:{project_ref}:{alert.payer_account}:{','.join(alert.bidder_ids)}",
        )


async def register_bank_key(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    public_key: bytes,
    label: str = "",
) -> str:
    """Trust ``public_key`` (Ed25519, 32 bytes) for the bank's signed messages. Idempotent."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ValidationFailed(
            "the bank key must be 32 bytes (Ed25519)",
            "银行公钥须为 32 字节（Ed25519）",
            code="invalid_public_key",
        )
    key_id = "bank-" + hashlib.sha256(public_key).hexdigest()[:16]
    async with conn.transaction():
        if await store.insert_bank_key(conn, key_id, public_key, label, now):
            await audit.append(
                conn,
                actor=actor,
                action="ledger.bank_key.register",
                object_type="bank_key",
                object_id=key_id,
                at=now,
                payload={"public_key": public_key.hex(), "label": label},
            )
    return key_id
