"""Sealed e-tendering: tenders, the vault of sealed bids, the deadline, the opening.

Layers: ``model`` (what a tender is), ``rules`` (pure lifecycle and checks), ``package``
(the bid package a bidder seals), ``records`` (signed receipts, tree heads, opening
records), ``store`` (SQL), ``vault`` (chunked blob storage), ``service`` (use cases),
``demo`` (demo data). See docs/bidding.md.
"""
