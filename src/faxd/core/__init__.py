"""Pure decisions: no I/O, no clock of their own. Everything here is property-tested."""
