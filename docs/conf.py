"""Sphinx configuration of the circnet documentation (API reference from the docstrings).

Build: ``pip install 'circnet[docs]'`` then ``sphinx-build -W -b html docs docs/_build/html``.
"""

from __future__ import annotations

from importlib.metadata import version as _version

project = "circnet"
author = "circnet developers"
copyright = "circnet developers"
release = _version("circnet")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc shows the types of the docstrings
numpydoc_show_class_members = False  # classes: methods listed by autosummary, not twice
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
default_role = "py:obj"
nitpicky = False
intersphinx_mapping: dict[str, tuple[str, None]] = {}  # offline builds: no inventories
exclude_patterns = ["_build", "generated/*.tmp", "**.ipynb_checkpoints", "*.ipynb"]
html_theme = "alabaster"
html_title = f"circnet {release}"
templates_path: list[str] = []
suppress_warnings = ["config.cache"]
