"""Readers (one module per format, each exposing READER) and the ONNX exporter."""
