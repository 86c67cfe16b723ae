#!/usr/bin/env bash
# Set everything up, then run the main job on a bundled fixture: summarise a MatConvNet model,
# convert it to ONNX, prove the conversion with `check`, and draw it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
model=fixtures/matconvnet/simplenn_beta11.mat
mkdir -p out
set -x
.venv/bin/netinspect info "$model"
.venv/bin/netinspect convert "$model" --to onnx -o out/simplenn_beta11.onnx
.venv/bin/netinspect check "$model" out/simplenn_beta11.onnx --junit out/check.xml
.venv/bin/netinspect view "$model" -o out/simplenn_beta11.svg
.venv/bin/netinspect view "$model" -o out/simplenn_beta11.html
