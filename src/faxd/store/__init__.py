"""The durable record: the job journal and the inbox ledger, the only modules that speak SQL."""
