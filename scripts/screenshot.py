"""Make the README's pictures of the HTML viewer: `netinspect view` of a model, opened in headless
Chromium (Debian's, through selenium) on its source layers or its ONNX graph, a node or layer
searched and selected, saved as a small PNG.

    .venv/bin/python scripts/screenshot.py [MODEL] [-o docs/viewer.png] [--search conv2b] [--graph onnx]
        [--switch]

The README's two, of the MobileNetV2.keras that fixtures/keras/make_keras.py makes:
    M=fixtures/cache/keras/*/MobileNetV2.keras
    scripts/screenshot.py $M --search block_1_expand -o docs/viewer-source.png
    scripts/screenshot.py $M --search block_1_expand --switch
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.renderers.html import chromium  # noqa: E402  (the one way to start Chromium here)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", nargs="?", type=Path, default=ROOT / "fixtures" / "matconvnet" / "dagnn_residual.mat"
    )
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "viewer.png")
    parser.add_argument("--search", default="conv2b", help="select the first node matching this")
    parser.add_argument(
        "--graph", choices=("source", "onnx"), default="source", help="the drawing the page opens on"
    )
    parser.add_argument(
        "--switch", action="store_true", help="then switch drawings: the selection's counterparts marked"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        netinspect = Path(sys.executable).with_name("netinspect")
        command = [str(netinspect), "view", str(args.model), "-o", str(page), "--graph", args.graph]
        subprocess.run(command, check=True)
        driver = chromium.start(Path(tmp) / "profile", size=(1280, 760), extra=["--hide-scrollbars"])
        try:
            driver.get(page.as_uri())
            while not driver.execute_script("return document.body.dataset.ready === '1'"):
                time.sleep(0.05)
            box = driver.find_element(By.ID, "search")
            box.send_keys(args.search, Keys.ENTER)
            if args.switch:
                driver.find_element(By.ID, "switch").click()
            driver.execute_script("document.activeElement.blur()")  # no caret in the picture
            raw = Path(tmp) / "raw.png"
            driver.save_screenshot(str(raw))
        finally:
            driver.quit()
        image = Image.open(raw).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        image.save(args.output, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
