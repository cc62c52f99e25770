"""Messaging channels: WhatsApp Cloud API, Messenger, Instagram and Telegram.

Each channel module registers a ``ChannelSpec`` through the ``register_channels`` hook, exactly
as a third-party channel would. Inbound: a framework-free webhook handler per channel kind
(verify, route, normalise to frozen events). Outbound: a ``Channel`` per connection (send,
acknowledge, fetch media), every result classified as sent, retryable or permanent.
"""
