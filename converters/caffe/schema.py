"""The part of Caffe's schema (src/caffe/proto/caffe.proto, and SSD's additions) netinspect reads.

Written from the field numbers Caffe publishes, not generated from caffe.proto: each message maps a
field number to (name, kind). Kinds: a scalar type, "enum:<Enum>", "msg:<Message>", or "blob data"
(BlobProto.data, kept in the file). Fields not listed are skipped in a .caffemodel and kept
untyped from a prototxt (training-only settings such as data sources and fillers).

V1 layers (`layers { type: CONVOLUTION }`) carry the same `*_param` messages under other numbers;
both generations decode to the same field names, so handlers read one vocabulary.
"""

from __future__ import annotations

Schema = dict[int, tuple[str, str]]

PARAMS_V2: Schema = {
    103: ("argmax_param", "msg:ArgMaxParameter"),
    104: ("concat_param", "msg:ConcatParameter"),
    106: ("convolution_param", "msg:ConvolutionParameter"),
    108: ("dropout_param", "msg:DropoutParameter"),
    110: ("eltwise_param", "msg:EltwiseParameter"),
    111: ("exp_param", "msg:ExpParameter"),
    117: ("inner_product_param", "msg:InnerProductParameter"),
    118: ("lrn_param", "msg:LRNParameter"),
    121: ("pooling_param", "msg:PoolingParameter"),
    122: ("power_param", "msg:PowerParameter"),
    123: ("relu_param", "msg:ReLUParameter"),
    125: ("softmax_param", "msg:SoftmaxParameter"),
    126: ("slice_param", "msg:SliceParameter"),
    128: ("threshold_param", "msg:ThresholdParameter"),
    131: ("prelu_param", "msg:PReLUParameter"),
    133: ("reshape_param", "msg:ReshapeParameter"),
    134: ("log_param", "msg:LogParameter"),
    135: ("flatten_param", "msg:FlattenParameter"),
    139: ("batch_norm_param", "msg:BatchNormParameter"),
    140: ("elu_param", "msg:ELUParameter"),
    141: ("bias_param", "msg:BiasParameter"),
    142: ("scale_param", "msg:ScaleParameter"),
    143: ("input_param", "msg:InputParameter"),
    144: ("crop_param", "msg:CropParameter"),
    202: ("permute_param", "msg:PermuteParameter"),
    203: ("prior_box_param", "msg:PriorBoxParameter"),
    204: ("detection_output_param", "msg:DetectionOutputParameter"),
    206: ("norm_param", "msg:NormalizeParameter"),
}

PARAMS_V1: Schema = {
    9: ("concat_param", "msg:ConcatParameter"),
    10: ("convolution_param", "msg:ConvolutionParameter"),
    12: ("dropout_param", "msg:DropoutParameter"),
    17: ("inner_product_param", "msg:InnerProductParameter"),
    18: ("lrn_param", "msg:LRNParameter"),
    19: ("pooling_param", "msg:PoolingParameter"),
    21: ("power_param", "msg:PowerParameter"),
    23: ("argmax_param", "msg:ArgMaxParameter"),
    24: ("eltwise_param", "msg:EltwiseParameter"),
    25: ("threshold_param", "msg:ThresholdParameter"),
    30: ("relu_param", "msg:ReLUParameter"),
    31: ("slice_param", "msg:SliceParameter"),
    39: ("softmax_param", "msg:SoftmaxParameter"),
    41: ("exp_param", "msg:ExpParameter"),
}

MESSAGES: dict[str, Schema] = {
    "NetParameter": {
        1: ("name", "string"),
        2: ("layers", "msg:V1LayerParameter"),
        3: ("input", "string"),
        4: ("input_dim", "int32"),
        6: ("state", "msg:NetState"),
        8: ("input_shape", "msg:BlobShape"),
        100: ("layer", "msg:LayerParameter"),
    },
    "NetState": {1: ("phase", "enum:Phase"), 2: ("level", "int32"), 3: ("stage", "string")},
    "NetStateRule": {
        1: ("phase", "enum:Phase"),
        2: ("min_level", "int32"),
        3: ("max_level", "int32"),
        4: ("stage", "string"),
        5: ("not_stage", "string"),
    },
    "BlobShape": {1: ("dim", "int64")},
    "BlobProto": {
        1: ("num", "int32"),
        2: ("channels", "int32"),
        3: ("height", "int32"),
        4: ("width", "int32"),
        5: ("data", "blob data"),
        7: ("shape", "msg:BlobShape"),
        8: ("double_data", "blob data"),
    },
    "ParamSpec": {1: ("name", "string")},
    "LayerParameter": {
        1: ("name", "string"),
        2: ("type", "string"),
        3: ("bottom", "string"),
        4: ("top", "string"),
        6: ("param", "msg:ParamSpec"),
        7: ("blobs", "msg:BlobProto"),
        8: ("include", "msg:NetStateRule"),
        9: ("exclude", "msg:NetStateRule"),
        10: ("phase", "enum:Phase"),
        **PARAMS_V2,
    },
    "V1LayerParameter": {
        2: ("bottom", "string"),
        3: ("top", "string"),
        4: ("name", "string"),
        5: ("type", "enum:V1LayerType"),
        6: ("blobs", "msg:BlobProto"),
        32: ("include", "msg:NetStateRule"),
        33: ("exclude", "msg:NetStateRule"),
        **PARAMS_V1,
    },
    "ArgMaxParameter": {1: ("out_max_val", "bool"), 2: ("top_k", "uint32"), 3: ("axis", "int32")},
    "ConcatParameter": {1: ("concat_dim", "uint32"), 2: ("axis", "int32")},
    "ConvolutionParameter": {
        1: ("num_output", "uint32"),
        2: ("bias_term", "bool"),
        3: ("pad", "uint32"),
        4: ("kernel_size", "uint32"),
        5: ("group", "uint32"),
        6: ("stride", "uint32"),
        9: ("pad_h", "uint32"),
        10: ("pad_w", "uint32"),
        11: ("kernel_h", "uint32"),
        12: ("kernel_w", "uint32"),
        13: ("stride_h", "uint32"),
        14: ("stride_w", "uint32"),
        15: ("engine", "enum:Engine"),
        16: ("axis", "int32"),
        18: ("dilation", "uint32"),
    },
    "DropoutParameter": {1: ("dropout_ratio", "float")},
    "EltwiseParameter": {1: ("operation", "enum:EltwiseOp"), 2: ("coeff", "float")},
    "ExpParameter": {1: ("base", "float"), 2: ("scale", "float"), 3: ("shift", "float")},
    "LogParameter": {1: ("base", "float"), 2: ("scale", "float"), 3: ("shift", "float")},
    "PowerParameter": {1: ("power", "float"), 2: ("scale", "float"), 3: ("shift", "float")},
    "InnerProductParameter": {
        1: ("num_output", "uint32"),
        2: ("bias_term", "bool"),
        5: ("axis", "int32"),
        6: ("transpose", "bool"),
    },
    "LRNParameter": {
        1: ("local_size", "uint32"),
        2: ("alpha", "float"),
        3: ("beta", "float"),
        4: ("norm_region", "enum:NormRegion"),
        5: ("k", "float"),
        6: ("engine", "enum:Engine"),
    },
    "PoolingParameter": {
        1: ("pool", "enum:PoolMethod"),
        2: ("kernel_size", "uint32"),
        3: ("stride", "uint32"),
        4: ("pad", "uint32"),
        5: ("kernel_h", "uint32"),
        6: ("kernel_w", "uint32"),
        7: ("stride_h", "uint32"),
        8: ("stride_w", "uint32"),
        9: ("pad_h", "uint32"),
        10: ("pad_w", "uint32"),
        11: ("engine", "enum:Engine"),
        12: ("global_pooling", "bool"),
        13: ("round_mode", "enum:RoundMode"),
    },
    "ReLUParameter": {1: ("negative_slope", "float"), 2: ("engine", "enum:Engine")},
    "SoftmaxParameter": {1: ("engine", "enum:Engine"), 2: ("axis", "int32")},
    "SliceParameter": {1: ("slice_dim", "uint32"), 2: ("slice_point", "uint32"), 3: ("axis", "int32")},
    "ThresholdParameter": {1: ("threshold", "float")},
    "PReLUParameter": {2: ("channel_shared", "bool")},
    "ReshapeParameter": {1: ("shape", "msg:BlobShape"), 2: ("axis", "int32"), 3: ("num_axes", "int32")},
    "FlattenParameter": {1: ("axis", "int32"), 2: ("end_axis", "int32")},
    "BatchNormParameter": {
        1: ("use_global_stats", "bool"),
        2: ("moving_average_fraction", "float"),
        3: ("eps", "float"),
    },
    "ELUParameter": {1: ("alpha", "float")},
    "BiasParameter": {1: ("axis", "int32"), 2: ("num_axes", "int32")},
    "ScaleParameter": {1: ("axis", "int32"), 2: ("num_axes", "int32"), 4: ("bias_term", "bool")},
    "InputParameter": {1: ("shape", "msg:BlobShape")},
    "CropParameter": {1: ("axis", "int32"), 2: ("offset", "uint32")},
    "PermuteParameter": {1: ("order", "uint32")},
    "NormalizeParameter": {
        1: ("across_spatial", "bool"),
        3: ("channel_shared", "bool"),
        4: ("eps", "float"),
    },
    "PriorBoxParameter": {
        1: ("min_size", "float"),
        2: ("max_size", "float"),
        3: ("aspect_ratio", "float"),
        4: ("flip", "bool"),
        5: ("clip", "bool"),
        6: ("variance", "float"),
        7: ("img_size", "uint32"),
        8: ("img_h", "uint32"),
        9: ("img_w", "uint32"),
        10: ("step", "float"),
        11: ("step_h", "float"),
        12: ("step_w", "float"),
        13: ("offset", "float"),
    },
    "DetectionOutputParameter": {
        1: ("num_classes", "uint32"),
        2: ("share_location", "bool"),
        3: ("background_label_id", "int32"),
        4: ("nms_param", "msg:NonMaximumSuppressionParameter"),
        6: ("code_type", "enum:CodeType"),
        7: ("keep_top_k", "int32"),
        8: ("variance_encoded_in_target", "bool"),
        9: ("confidence_threshold", "float"),
    },
    "NonMaximumSuppressionParameter": {
        1: ("nms_threshold", "float"),
        2: ("top_k", "int32"),
        3: ("eta", "float"),
    },
}

ENUMS: dict[str, dict[int, str]] = {
    "Phase": {0: "TRAIN", 1: "TEST"},
    "Engine": {0: "DEFAULT", 1: "CAFFE", 2: "CUDNN"},
    "EltwiseOp": {0: "PROD", 1: "SUM", 2: "MAX"},
    "NormRegion": {0: "ACROSS_CHANNELS", 1: "WITHIN_CHANNEL"},
    "PoolMethod": {0: "MAX", 1: "AVE", 2: "STOCHASTIC"},
    "RoundMode": {0: "CEIL", 1: "FLOOR"},
    "CodeType": {1: "CORNER", 2: "CENTER_SIZE", 3: "CORNER_SIZE"},
    "V1LayerType": {
        0: "NONE",
        1: "ACCURACY",
        2: "BNLL",
        3: "CONCAT",
        4: "CONVOLUTION",
        5: "DATA",
        6: "DROPOUT",
        7: "EUCLIDEAN_LOSS",
        8: "FLATTEN",
        9: "HDF5_DATA",
        10: "HDF5_OUTPUT",
        11: "IM2COL",
        12: "IMAGE_DATA",
        13: "INFOGAIN_LOSS",
        14: "INNER_PRODUCT",
        15: "LRN",
        16: "MULTINOMIAL_LOGISTIC_LOSS",
        17: "POOLING",
        18: "RELU",
        19: "SIGMOID",
        20: "SOFTMAX",
        21: "SOFTMAX_LOSS",
        22: "SPLIT",
        23: "TANH",
        24: "WINDOW_DATA",
        25: "ELTWISE",
        26: "POWER",
        27: "SIGMOID_CROSS_ENTROPY_LOSS",
        28: "HINGE_LOSS",
        29: "MEMORY_DATA",
        30: "ARGMAX",
        31: "THRESHOLD",
        32: "DUMMY_DATA",
        33: "SLICE",
        34: "MVN",
        35: "ABSVAL",
        36: "SILENCE",
        37: "CONTRASTIVE_LOSS",
        38: "EXP",
        39: "DECONVOLUTION",
    },
}

V1_TYPE_NAMES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution",
    "DATA": "Data", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}  # fmt: skip
"""UpgradeV1LayerType: the V2 type string each V1 enum becomes."""

TRAINING_ONLY = {
    "Data", "ImageData", "HDF5Data", "HDF5Output", "MemoryData", "WindowData", "DummyData",
    "Accuracy", "Silence", "AnnotatedData",
}  # fmt: skip
"""Layer types with no inference meaning (plus every type ending in "Loss")."""

DATA_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData", "AnnotatedData"}
"""Layers whose tops are the net's inputs when a .caffemodel's own (training) net is shown."""


def is_training_only(layer_type: str) -> bool:
    return layer_type in TRAINING_ONLY or layer_type.endswith("Loss")


def field_by_name(message: str, name: str) -> tuple[int, str] | None:
    """(number, kind) of a field by name, for typing prototxt values."""
    for number, (field_name, kind) in MESSAGES.get(message, {}).items():
        if field_name == name:
            return number, kind
    return None
