"""Safety guards: the embedded default (rules plus a small shipped classifier) and adapters for
model-based guards (Llama Guard / Prompt Guard behind an OpenAI-compatible server, OpenAI's
moderation API). They register through the ``register_guards`` hook like any plugin."""
