"""The machine faxd runs on: file system effects, the instance lock, logging, sd_notify."""
