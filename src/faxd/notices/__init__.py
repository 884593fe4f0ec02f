"""Notices, deliveries and alerts: which ones an event causes (plan), what they say
(compose) and the worker that hands them to their channels (worker)."""
