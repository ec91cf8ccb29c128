"""The pure part of a plate session's deposit settlement: which plate each winner's one
deposit converts into, and how much the session's deposit is.

Sources: RULES.md A7 (the winner's deposit becomes part of the price); auction/deposits.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from auction.deposits import ClosedPlate, conversion_targets, session_deposit_fen

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def plate(lot_id: int, winner: int | None, closed_s: int, outcome: str = "sold") -> ClosedPlate:
    return ClosedPlate(
        lot_id=lot_id,
        title=f"浙E·{lot_id:05d}",
        outcome=outcome if winner is not None else "no_sale",
        winner_org_id=winner,
        winner_paddle=None if winner is None else f"{100000 + winner}",
        price_fen=None if winner is None else 1_000_000,
        closed_at=T0 + timedelta(seconds=closed_s),
    )


def test_a_deposit_converts_once_into_the_first_plate_its_bidder_won() -> None:
    """A bidder who won several plates: the first to close takes the deposit, whatever the
    plates' order in the session."""
    targets = conversion_targets([plate(1, 7, 90), plate(2, 8, 60), plate(3, 7, 60)])
    assert {org: p.lot_id for org, p in targets.items()} == {7: 3, 8: 2}


def test_plates_closed_at_the_same_instant_go_by_lot_id() -> None:
    targets = conversion_targets([plate(5, 7, 60), plate(4, 7, 60)])
    assert targets[7].lot_id == 4


def test_a_plate_not_sold_takes_no_deposit() -> None:
    """No sale (流拍) and a terminated plate have no winner whose deposit could convert."""
    plates = [plate(1, None, 10), plate(2, 7, 20, outcome="cancelled"), plate(3, 7, 30)]
    assert {org: p.lot_id for org, p in conversion_targets(plates).items()} == {7: 3}


@given(
    st.lists(
        st.tuples(st.integers(1, 50), st.one_of(st.none(), st.integers(1, 5)), st.integers(0, 5)),
        max_size=30,
        unique_by=lambda t: t[0],
    )
)
def test_every_winner_has_exactly_one_target_among_the_plates_it_won(
    specs: list[tuple[int, int | None, int]],
) -> None:
    plates = [plate(lot_id, winner, s) for lot_id, winner, s in specs]
    targets = conversion_targets(plates)
    winners = {p.winner_org_id for p in plates if p.sold}
    assert set(targets) == winners
    for org, target in targets.items():
        won = [p for p in plates if p.sold and p.winner_org_id == org]
        assert target in won
        assert all((target.closed_at, target.lot_id) <= (p.closed_at, p.lot_id) for p in won)
    assert conversion_targets(list(reversed(plates))) == targets


def test_the_session_deposit_is_the_largest_a_plate_asks() -> None:
    assert session_deposit_fen([100_000, 150_000, 100_000]) == 150_000
    assert session_deposit_fen([0, 0]) == 0
