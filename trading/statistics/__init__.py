"""Statistics of closed trades (RULES S5): pre-aggregated as trades close, read without
scanning them. Definitions: docs/statistics.md."""
