"""After the evaluation report: candidate publicity (T18), objections and complaints (W12),
the award (W8, W9), the contract and the refund of every deposit (W10, W11, D5, D6), the
failed tender and its re-tender draft (W7), and the savings rate (S5).

``model`` (what it is), ``rules`` (pure: the lifecycle table and every window), ``store``
(SQL), ``service`` (use cases and timed-event handlers), ``errors`` (``AwardReason``).
See docs/evaluation.md.
"""
