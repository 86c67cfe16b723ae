"""The TFLite builtins netinspect refuses, each with why: shown by `netinspect formats tflite` and in
the one refusal `convert` gives for a file holding any of them.

"No LiteRT kernel" was measured on ai-edge-litert 2.3.0: the builtin registry (BuiltinOpResolver)
registers no kernel for these, so no interpreter runs a file holding them and a conversion could
not be compared with anything (the StableHLO ones LiteRT does run are converted or listed as not
converted yet).
"""

from __future__ import annotations

NO_KERNEL = (
    "CALL", "CONCAT_EMBEDDINGS", "STABLEHLO_LOGISTIC", "STABLEHLO_DIVIDE", "STABLEHLO_RESHAPE",
    "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION",
    "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_COSINE",
    "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_NEGATE", "STABLEHLO_OR",
    "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE",
    "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_TRANSPOSE", "STABLEHLO_CBRT",
)  # fmt: skip

RANDOM = "random numbers: LiteRT's generator has no ONNX counterpart whose draws could match"
HASH_TABLE = "a hash table resource (string or int64 keys imported at run time): no ONNX counterpart"

REFUSED = {
    "CUSTOM": "custom operator: its semantics are not in the file",
    "DELEGATE": "delegate operator: runs in an accelerator, not a TFLite kernel",
    **{name: "no LiteRT kernel: no interpreter runs it (subgraphs are called through WHILE, IF and "
             "CALL_ONCE)" if name == "CALL" else "no LiteRT kernel: no interpreter runs it"
       for name in NO_KERNEL},
    **{name: RANDOM for name in ("RANDOM_STANDARD_NORMAL", "RANDOM_UNIFORM", "MULTINOMIAL",
                                 "STABLEHLO_RNG_BIT_GENERATOR")},
    **{name: HASH_TABLE for name in ("HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE")},
    "LSH_PROJECTION": "locality-sensitive hashing with farmhash fingerprints: no ONNX counterpart",
    "SKIP_GRAM": "n-grams of strings: ONNX has no string operators for it",
    "BITCAST": "reinterprets bytes as another type: ONNX (opset 17) has no bit cast",
    "BITWISE_XOR": "ONNX BitwiseXor needs opset 18; netinspect writes opset 17",
}  # fmt: skip
"""Builtin name → why it is refused."""
