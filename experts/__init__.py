"""Expert panel drawing (评标专家抽取): the expert pool, conflict-of-interest exclusions and
the verifiable draw.

- ``experts.model``  — frozen records: experts, specialty codes, draw requests, the draw
  record, its result and the verification report.
- ``experts.rules``  — pure rules: committee composition, eligibility and exclusions,
  feasibility.
- ``experts.draw``   — commit, run and verify a draw (docs/draw.md is its byte-level
  definition).
- ``experts.errors`` — ``ExpertReason``, the closed set of refusals.
"""
