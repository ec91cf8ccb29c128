"""D9: the bank's daily statement against the ledger — the use case behind
``POST /ledger/reconciliations`` and ``sunlit ledger reconcile`` (the matching itself is pure,
in ``reconcile``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from crypto.signing import sha256_hex
from trading.audit import AuditLog
from trading.calendar.events import schedule
from trading.context import Actor
from trading.errors import ValidationFailed
from trading.supervision import raise_alert

from . import store
from .model import CHINA_TZ
from .reconcile import ReconciliationReport, parse_statement_csv, reconcile
from .rules.refunds import SUSPENSE_RETURN_DAYS
from .service import REFUND_DUE, end_of_china_day
from .service.context import Ledger
from .service.payouts import record_unmatched_credit

__all__ = ["reconcile_statement"]


# == reconciliation =============================================================================


async def reconcile_statement(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    text: str,
    *,
    from_on: date | None = None,
    to_on: date | None = None,
    date_tolerance_days: int = 1,
) -> dict[str, Any]:
    """D9: match every line of the bank's statement against the ledger's bank movements in
    the statement's period; report what is missing on either side and what differs; put money
    the bank received that the ledger never heard of into suspense; raise an alert when the
    statement does not reconcile. Importing the same statement again finds it all matched."""
    lines, problems = parse_statement_csv(text)
    if problems:
        raise ValidationFailed(
            f"the statement is invalid ({len(problems)} problems): " + "; ".join(problems[:20]),
            f"对账单无效（{len(problems)} 处问题）：" + "；".join(problems[:20]),
            code="statement_invalid",
            details={"errors": [{"problem": p} for p in problems[:1000]]},
        )
    digest = sha256_hex(text.encode())
    if lines:
        from_on = from_on or min(s.value_on for s in lines)
        to_on = to_on or max(s.value_on for s in lines)
    async with conn.transaction():
        lg = Ledger(conn, now)
        held_aside: list[dict[str, Any]] = []
        report = reconcile(
            lines,
            await store.movements(conn, from_on=from_on, to_on=to_on),
            date_tolerance_days=date_tolerance_days,
        )
        to_suspense: list[dict[str, Any]] = []
        for line in report.not_in_cny:
            # Never booked as CNY: held aside with its reason, no transfer, no CNY return.
            if line.amount_fen <= 0:
                continue
            ref = line.bank_ref or f"ST{digest[:12]}-{line.line_no}"
            item = await record_unmatched_credit(
                lg,
                ref,
                line.amount_fen,
                datetime.combine(line.value_on, time(12), tzinfo=CHINA_TZ),
                line.counterparty_account[:64],
                line.counterparty_name[:200],
                now,
                in_cny=False,
            )
            if item is not None:
                # Not counted in to_suspense_fen: those are CNY fen, these are not.
                held_aside.append({"bank_ref": ref, "line_no": line.line_no})
        for line in report.missing_in_ledger:
            if line.amount_fen <= 0:
                continue
            ref = line.bank_ref or f"ST{digest[:12]}-{line.line_no}"
            value_at = datetime.combine(line.value_on, time(12), tzinfo=CHINA_TZ)
            item = await record_unmatched_credit(
                lg,
                ref,
                line.amount_fen,
                value_at,
                line.counterparty_account[:64],
                line.counterparty_name[:200],
                now,
            )
            if item is not None:
                to_suspense.append(
                    {"bank_ref": ref, "amount_fen": line.amount_fen, "line_no": line.line_no}
                )
                await schedule(
                    conn,
                    kind=REFUND_DUE,
                    ref=f"suspense:{ref}",
                    now=now,
                    due_at=end_of_china_day(line.value_on + timedelta(days=SUSPENSE_RETURN_DAYS)),
                    payload={"suspense": ref},
                )
        body = _report_json(report, to_suspense, held_aside)
        row = {
            "statement_sha256": digest,
            "from_on": from_on,
            "to_on": to_on,
            "lines": len(lines),
            "matched": len(report.matched),
            "differences": len(report.differences),
            "missing_in_ledger": len(report.missing_in_ledger),
            "missing_in_bank": len(report.missing_in_bank),
            "to_suspense_fen": sum(s["amount_fen"] for s in to_suspense),
            "report": body,
            "imported_at": now,
            "imported_by": actor.username,
        }
        rid = await store.insert_reconciliation(conn, row)
        await audit.append(
            conn,
            actor=actor,
            action="ledger.reconcile",
            object_type="reconciliation",
            object_id=rid,
            at=now,
            payload=digest,
            detail={
                k: row[k]
                for k in (
                    "lines",
                    "matched",
                    "differences",
                    "missing_in_ledger",
                    "missing_in_bank",
                    "to_suspense_fen",
                )
            },
        )
        if not report.clean:
            await raise_alert(
                conn,
                now,
                kind="ledger.reconciliation",
                severity="warning",
                object_type="reconciliation",
                object_id=str(rid),
                message_en=f"The bank statement {from_on}..{to_on} does not reconcile: {len(report.differences)} "
                f"differences, {len(report.missing_in_ledger)} lines missing in the ledger, "
                f"{len(report.missing_in_bank)} movements missing at the bank, "
                f"{len(report.not_in_cny)} lines not in CNY",
                message_zh=f"银行对账单 {from_on}..{to_on} 对账不平：差异 {len(report.differences)} 笔，"
                f"账簿缺 {len(report.missing_in_ledger)} 笔，银行缺 {len(report.missing_in_bank)} 笔，"
                f"非人民币 {len(report.not_in_cny)} 笔",
                detail={"reconciliation_id": rid},
                dedup_key=f"ledger.reconciliation:{digest}",
            )
    return {
        "id": rid,
        **{k: v for k, v in row.items() if k != "report"},
        "clean": report.clean,
        "statement_net_fen": report.statement_net_fen,
        "ledger_net_fen": report.ledger_net_fen,
        "details": body,
    }


def _report_json(
    report: ReconciliationReport,
    to_suspense: list[dict[str, Any]],
    held_aside: list[dict[str, Any]],
) -> dict[str, Any]:
    suspense_refs = {s["line_no"]: s["bank_ref"] for s in to_suspense}
    held_refs = {s["line_no"]: s["bank_ref"] for s in held_aside}
    return {
        "differences": [
            {
                "line_no": d.line.line_no,
                "bank_ref": d.line.bank_ref,
                "statement_fen": d.line.amount_fen,
                "ledger_fen": d.movement.amount_fen,
                "difference_fen": d.difference_fen,
                "transfer_id": d.movement.transfer_id,
            }
            for d in report.differences
        ],
        "missing_in_ledger": [
            {
                "line_no": s.line_no,
                "bank_ref": s.bank_ref,
                "amount_fen": s.amount_fen,
                "value_on": s.value_on.isoformat(),
                "counterparty_account": s.counterparty_account,
                "to_suspense": suspense_refs.get(s.line_no),
            }
            for s in report.missing_in_ledger
        ],
        "missing_in_bank": [
            {
                "transfer_id": m.transfer_id,
                "bank_ref": m.bank_ref,
                "amount_fen": m.amount_fen,
                "value_on": m.value_on.isoformat(),
            }
            for m in report.missing_in_bank
        ],
        "not_in_cny": [
            {
                "line_no": s.line_no,
                "bank_ref": s.bank_ref,
                "currency": s.currency,
                "amount_minor": s.amount_fen,
                "value_on": s.value_on.isoformat(),
                "counterparty_account": s.counterparty_account,
                "to_suspense": held_refs.get(s.line_no),
                "reason": "currency_not_cny",
            }
            for s in report.not_in_cny
        ],
        "matched_by_amount_date": sum(
            1 for m in report.matched if m.kind.value == "by_amount_date"
        ),
    }
