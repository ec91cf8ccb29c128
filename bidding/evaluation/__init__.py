"""Evaluation of opened bids by the seated panel (评标): the method fixed on the tender at
publication, the members' signed score sheets, aggregation as pure rules, and the signed
evaluation report with its offline verifier.

Rooms: ``model`` (what an evaluation is; imports nothing of ``bidding`` so that
``bidding.model`` can name the method types), ``errors``, ``rules`` (pure), ``records``
(signed documents), ``verify`` (offline re-derivation), ``store`` (SQL), ``service`` (use
cases). See docs/evaluation.md.
"""
