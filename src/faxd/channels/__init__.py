"""Channels: how faxd tells people things — e-mail (smtp), a CUPS printer (print), an HTTP
endpoint (webhook) and a local program (command). Each takes one composed `Message` and
either returns (the channel accepted it) or raises `ChannelError`."""
