"""The package list, derived from the folders so that adding one (a new format under converters/)
needs no edit here or in pyproject.toml: each folder of pyproject's package-dir (netinspect/, and
converters/ and renderers/ installed as netinspect.converters and netinspect.renderers) with every
folder below it (data-only ones such as schemas/ included, for package-data). Every other setting
lives in pyproject.toml."""

import tomllib
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
PACKAGE_DIRS = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def packages() -> list[str]:
    found = []
    for package, folder in PACKAGE_DIRS.items():
        below = find_namespace_packages(str(HERE / folder), exclude=["*__pycache__*"])
        found += [package, *(f"{package}.{sub}" for sub in below)]
    return found


setup(packages=packages())
