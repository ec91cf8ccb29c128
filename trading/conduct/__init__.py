"""The bad-behaviour register (不良行为记录, RULES S1, S2): findings against an organisation or
an expert, approved by a second staff member, published, and enforced as bans at the doors."""
