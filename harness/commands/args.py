"""Argument types shared by the commands' parsers."""

import argparse


def app_list(value):
    from harness.measure.services import discover

    known = sorted(discover())
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        apps = [n for n in known if "@" not in n]
        variants = [n for n in known if "@" in n]
        raise argparse.ArgumentTypeError(
            f"unknown app {', '.join(unknown) or repr(value)}; choose from {', '.join(apps)}"
            + (f" (variants: {', '.join(variants)})" if variants else ""))
    return names
