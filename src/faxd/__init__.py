"""faxd: the office fax machine replaced by a folder."""

__version__ = "0.1.0"
