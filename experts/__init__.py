"""Expert panel drawing (评标专家抽取): the expert pool, conflict-of-interest exclusions,
the verifiable draw, summons and replacement.

Pure (no I/O, no clock, no randomness):

- ``experts.model``  — frozen records, one module per concept: ``ids``, ``specialties``,
  ``pool`` (experts), ``request``, ``exclusions``, ``record`` (the draw record, its result
  and the verification report).
- ``experts.rules``  — committee composition, eligibility and exclusions, feasibility.
- ``experts.draw``   — commit, run and verify a draw (docs/draw.md is its byte-level
  definition).
- ``experts.panel``  — a drawn panel's life: whom to call, member and draw states.
- ``experts.pool``   — an expert as entered (``ExpertInput``) and its checks.
- ``experts.bundle`` — the published draw record and its offline verification.
- ``experts.errors`` — ``ExpertReason``, the closed set of refusals.

Adapters: ``experts.store`` (every SQL statement), ``experts.service`` (the pool's use
cases), ``experts.draws`` (draws and summons), ``experts.outbox`` (delivering summons after
commit), ``experts.notify`` (message templates and channels), ``experts.vault`` (keys for
identity numbers and seeds at rest), ``experts.csvio`` (the import file),
``experts.settings``, ``experts.demo``. The HTTP API is ``web.experts``, the CLI
``web.cli_experts``; docs/experts.md describes both.
"""
