"""Renderers: IR → Graphviz (DOT/SVG/PNG/PDF), text and JSON summaries."""
