"""Where the harness finds its data: the checkout it runs from, or the installed package.

A wheel carries apps/ and contract/ inside the package (harness/_data/); a checkout has them
beside harness/. Nothing else in the harness builds a path from its own file's location."""

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_BUNDLED = PACKAGE / "_data"
ROOT = _BUNDLED if (_BUNDLED / "apps").is_dir() else PACKAGE.parent
APPS_DIR = ROOT / "apps"
CONTRACT = ROOT / "contract" / "openapi.yaml"
PYPROJECT = PACKAGE.parent / "pyproject.toml"  # in a checkout only
DISTRIBUTION = "flask-fastapi-bench"


def version() -> str:
    """The tool's version: the checkout's pyproject.toml when run from a checkout (an older
    installed copy must not speak for it), else the installed distribution's."""
    import tomllib
    from importlib import metadata

    if ROOT == PACKAGE.parent and PYPROJECT.is_file():
        try:
            return str(tomllib.loads(PYPROJECT.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            pass
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
