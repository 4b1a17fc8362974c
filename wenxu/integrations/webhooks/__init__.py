"""Signed webhooks for client systems (issue #8 §4, docs/api/webhooks.md).

`events` names the event types, `targets` checks where a webhook may point, `payloads` builds
the JSON bodies, `signing` the headers, `fanout` turns the event log into deliveries, `sending`
posts them with retries, and `services` holds the writes the admin calls plus the worker's
`webhook_sweep`.
"""
