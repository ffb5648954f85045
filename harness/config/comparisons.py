"""The comparisons a scenario makes when its file declares none: today's stack against each
candidate, then every pair of candidates. Apart from the scenario files' parser (and its YAML)
because the analysis of stored runs applies the same rule to a version-1 file, which recorded
no comparisons."""


def default_comparisons(apps, baseline):
    """Today's stack against each candidate, then every pair of candidates (in file order)."""
    others = [a for a in apps if a != baseline]
    pairs = [(a, baseline) for a in others]
    pairs += [(b, a) for i, a in enumerate(others) for b in others[i + 1:]]
    return tuple(pairs)
