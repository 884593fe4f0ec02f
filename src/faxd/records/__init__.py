"""Records kept for the office: the transmission report PDF, the daily activity journal,
retention, and the hash-chained audit log."""
