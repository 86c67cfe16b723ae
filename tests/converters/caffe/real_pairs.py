"""The real Caffe pairs (deploy prototxt, caffemodel) under ../shared/models/caffe, by name."""

from __future__ import annotations

PAIRS = {
    "lenet_v1": ("caffe/lenet_v1/lenet.prototxt", "caffe/lenet_v1/lenet_iter_10000.caffemodel"),
    "resnet20_cifar": (
        "caffe/resnet20_cifar/deploy.prototxt",
        "caffe/resnet20_cifar/cifar10_res20_iter_100000.caffemodel",
    ),
    "ultraface_slim320": (
        "caffe/ultraface_slim320/slim-320.prototxt",
        "caffe/ultraface_slim320/slim-320.caffemodel",
    ),
}
