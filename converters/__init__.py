"""The formats: one package per format, whose light `detect` module declares its READER (found through
the entry-point group `netinspect.readers`) and whose other modules read it; and the ONNX exporter."""
