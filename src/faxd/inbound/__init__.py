"""Inbound: received documents polled from the provider into the inbox folder."""
