"""Tools a model calls while it reasons: the zoom-in crop (see docs/zoom.md)."""
