"""Media files as parts of a turn: sniffing what bytes really are, the folder media store, and
fetching remote image URLs only from public addresses."""
