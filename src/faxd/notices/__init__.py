"""Notices, deliveries and alerts: which ones an event causes (plan), what they say
(compose), the worker that hands them to their channels (worker) and the monitor of
what time causes (monitor)."""
