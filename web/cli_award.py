"""``sunlit award …``: the steps after the evaluation report, through the server's API.

    sunlit award status    --tender-id N
    sunlit award publish   --tender-id N                         staff: publish the candidates (T18)
    sunlit award object    --tender-id N --text T                bidder: object during the publicity
    sunlit award answer    --tender-id N --objection-id N --answer T
    sunlit award complain  --tender-id N --text T [--known-at ISO]
    sunlit award complaint --tender-id N --complaint-id N accept [--suspend] [--note T]
                                                          | refuse --reason T
                                                          | decide --outcome upheld|dismissed --decision T
    sunlit award award     --tender-id N [--rank R --reason gave_up|cannot_perform|ineligible --note T]
    sunlit award decline   --tender-id N --reason R --note T [--forfeit-deposit]
    sunlit award approve-forfeit --tender-id N                   a second staff member (D6)
    sunlit award contract  --tender-id N --amount-fen X [--bond-fen Y] [--signed-at ISO]
    sunlit award fail      --tender-id N [--retender-code C] [--bid-deadline-at ISO --opening-at ISO]

Each takes ``--url``, ``--token`` or ``--username`` as ``sunlit bid`` does, prints the JSON
answer, and exits 2 with the problem's code and message on a refusal.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp

from trading.config import Config
from web.cli_bidding import _print, _problem, _run, _server_args

__all__ = ["register"]


def _request(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> int:
    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        url = f"{args.url}/api/v1/tenders/{args.tender_id}{path}"
        async with session.request(method, url, json=body, headers=headers) as r:
            text = await r.text()
            if r.status >= 400:
                raise _problem(r.status, text)
            _print(await r.json())
        return 0

    return _run(args, go)


def _some(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "GET", "/award")


def cmd_publish(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", "/award/publicity")


def cmd_object(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", "/award/objections", {"text": args.text})


def cmd_answer(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", f"/award/objections/{args.objection_id}/answer", {"answer": args.answer})


def cmd_complain(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", "/award/complaints", _some(text=args.text, known_at=args.known_at))


def cmd_complaint(args: argparse.Namespace, config: Config) -> int:
    path = f"/award/complaints/{args.complaint_id}/{args.act}"
    if args.act == "accept":
        body: dict[str, Any] = {"suspend_award": args.suspend, "note": args.note or ""}
    elif args.act == "refuse":
        body = {"reason": args.reason}
    else:
        body = {"outcome": args.outcome, "decision": args.decision}
    return _request(args, "POST", path, body)


def cmd_award(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", "/award", _some(rank=args.rank, reason=args.reason, note=args.note))


def cmd_decline(args: argparse.Namespace, config: Config) -> int:
    body = {"reason": args.reason, "note": args.note, "forfeit_deposit": args.forfeit_deposit}
    return _request(args, "POST", "/award/decline", body)


def cmd_approve_forfeit(args: argparse.Namespace, config: Config) -> int:
    return _request(args, "POST", "/award/forfeit/approve")


def cmd_contract(args: argparse.Namespace, config: Config) -> int:
    body = _some(amount_fen=args.amount_fen, performance_bond_fen=args.bond_fen, signed_at=args.signed_at)
    return _request(args, "POST", "/contract", body)


def cmd_fail(args: argparse.Namespace, config: Config) -> int:
    body = _some(retender_code=args.retender_code, bid_deadline_at=args.bid_deadline_at,
                 opening_at=args.opening_at)
    return _request(args, "POST", "/award/failure", body)


REASONS = ("gave_up", "cannot_perform", "ineligible")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    award = sub.add_parser(
        "award", help="after the report: publicity, objections, complaints, award, contract"
    ).add_subparsers(dest="award_command", required=True)

    def command(name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        p = award.add_parser(name, help=help_)
        _server_args(p)
        p.add_argument("--tender-id", type=int, required=True)
        p.set_defaults(fn=fn)
        return p

    command("status", cmd_status, "the procedure, its candidates, objections, complaints, award, savings")
    command("publish", cmd_publish, "staff: publish the candidates (T18)")
    p = command("object", cmd_object, "bidder: object to the candidates during the publicity")
    p.add_argument("--text", required=True)
    p = command("answer", cmd_answer, "staff: answer an objection in writing")
    p.add_argument("--objection-id", type=int, required=True)
    p.add_argument("--answer", required=True)
    p = command("complain", cmd_complain, "bidder: complain to the supervisor (10 days of knowing)")
    p.add_argument("--text", required=True)
    p.add_argument("--known-at", help="ISO 8601 with a timezone (default: the latest published step)")
    p = command("complaint", cmd_complaint, "supervisor: accept, refuse or decide a complaint")
    p.add_argument("--complaint-id", type=int, required=True)
    acts = p.add_subparsers(dest="act", required=True)
    a = acts.add_parser("accept")
    a.add_argument("--suspend", action="store_true", help="suspend the award until the decision")
    a.add_argument("--note")
    a = acts.add_parser("refuse")
    a.add_argument("--reason", required=True)
    a = acts.add_parser("decide")
    a.add_argument("--outcome", choices=("upheld", "dismissed"), required=True)
    a.add_argument("--decision", required=True)
    p = command("award", cmd_award, "staff: award (W8: below the first only with a reason)")
    p.add_argument("--rank", type=int)
    p.add_argument("--reason", choices=REASONS)
    p.add_argument("--note")
    p = command("decline", cmd_decline, "staff: the winner gave up, cannot perform or is ineligible")
    p.add_argument("--reason", choices=REASONS, required=True)
    p.add_argument("--note", required=True)
    p.add_argument("--forfeit-deposit", action="store_true", help="refused to sign: ask to forfeit (D6)")
    command("approve-forfeit", cmd_approve_forfeit, "a second staff member approves the forfeiture")
    p = command("contract", cmd_contract, "staff: record the contract; refunds every deposit (D5)")
    p.add_argument("--amount-fen", type=int, required=True)
    p.add_argument("--bond-fen", type=int)
    p.add_argument("--signed-at")
    p = command("fail", cmd_fail, "staff: W7 — the tender failed; make the re-tender draft")
    p.add_argument("--retender-code")
    p.add_argument("--bid-deadline-at")
    p.add_argument("--opening-at")
