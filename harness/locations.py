"""Where the harness finds its data: the checkout it runs from, or the installed package.

A wheel carries apps/ and contract/ inside the package (harness/_data/); a checkout has them
beside harness/. Nothing else in the harness builds a path from its own file's location."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_BUNDLED = PACKAGE / "_data"
ROOT = _BUNDLED if (_BUNDLED / "apps").is_dir() else PACKAGE.parent
APPS_DIR = ROOT / "apps"
CONTRACT = ROOT / "contract" / "openapi.yaml"
