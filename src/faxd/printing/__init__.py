"""Print-to-fax input: print files examined, PostScript converted, PDF text read."""
