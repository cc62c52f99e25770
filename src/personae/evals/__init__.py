"""Persona evaluation: a persona's own test cases and built-in checks, run through the turn path,
scored offline (and by a judge model when one is configured), compared with a stored baseline."""
