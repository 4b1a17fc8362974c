"""Importing an existing ledger (台账导入, issue #6 item 6): upload → column mapping → dry run
→ commit, all or nothing. See `service` for the flow and ADR 0010 for the pattern it follows.
"""
