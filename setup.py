"""The package list, derived from the folders so that adding one (a new format under converters/)
needs no edit here or in pyproject.toml: each folder of pyproject's package-dir (netinspect/, and
converters/ and renderers/ installed as netinspect.converters and netinspect.renderers) with every
package below it. Every other setting lives in pyproject.toml."""

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
PACKAGE_DIRS = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]

setup(
    packages=[
        name
        for package, folder in PACKAGE_DIRS.items()
        for name in (package, *(f"{package}.{sub}" for sub in find_packages(str(HERE / folder))))
    ]
)
