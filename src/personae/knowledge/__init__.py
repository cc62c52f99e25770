"""Knowledge bases: documents a persona's creator uploads, chunked and recalled per turn."""
