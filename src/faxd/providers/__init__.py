"""Provider adapters: Generic DOCS and Retarus behind two small interfaces."""
