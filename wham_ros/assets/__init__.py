"""Model files: one safe reader for every official layout, the registry of what a config needs, fetch, checksums."""
