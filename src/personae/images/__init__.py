"""Image generators: adapters that draw a persona's pictures (registered like engines)."""
