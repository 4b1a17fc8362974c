"""`wenxu generate`: a deterministic, realistic city of needs for benchmarks and load tests.

`generate(needs=…, seed=…)` fills an empty database with a city (areas, units, categories,
accounts) and months of its needs, written in bulk rather than through the services (ADR 0019).
"""

from wenxu.core.generate.run import DEFAULT_PASSWORD, GenerateRefused, Summary, check, generate

__all__ = ["DEFAULT_PASSWORD", "GenerateRefused", "Summary", "check", "generate"]
