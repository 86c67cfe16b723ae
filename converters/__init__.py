"""The formats: one package per format, whose light `__init__` declares its READER (found through the
entry-point group `netinspect.readers`) and whose modules read it; and the ONNX exporter."""
