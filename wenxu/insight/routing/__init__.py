"""Routing suggestions (issue #7 §4–5): which category and lead unit a need probably belongs
to, learned from the ledger's own decisions, with admins' keyword rules as the cold start.

- `features`: compact TF-IDF character n-grams and the linear model, stored as plain arrays.
- `training`: `router_train`, from decided needs; corrections weigh more.
- `rules`, `suggest`: `routing_suggest` for a need at triage.
- `evaluation`: `wenxu router_eval` on a labelled file.
"""
