"""Outbound: spool folders watched, documents taken in, sent, tracked and filed."""
