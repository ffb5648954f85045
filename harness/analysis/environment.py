"""Environments of runs: which keys differ, and which runs share one environment."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.findings import EnvDiff, Environment
from harness.model.results import RunCore

# Environment keys that change what a measurement means (pyperf refuses to mix these).
ENV_KEYS = ("cpu_model", "cpus", "python", "postgresql", "database")


def _flat(env: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: env.get(k) for k in ENV_KEYS}
    out.update({f"packages.{k}": v for k, v in (env.get("packages") or {}).items()})
    return out


def diff(base_envs: Sequence[Mapping[str, Any]], cur_env: Mapping[str, Any]) -> tuple[EnvDiff, ...]:
    """The ENV_KEYS and package versions where any baseline environment differs from the
    current one, with the baseline's distinct values in order of appearance."""
    cur = _flat(cur_env)
    bases = [_flat(e) for e in _distinct(base_envs)]
    keys = list(ENV_KEYS) + sorted({k for e in [cur, *bases] for k in e} - set(ENV_KEYS))
    out = []
    for k in keys:
        seen: list[Any] = []
        for b in bases:
            if b.get(k) not in seen:
                seen.append(b.get(k))
        if any(v != cur.get(k) for v in seen):
            out.append(EnvDiff(k, tuple(seen), cur.get(k)))
    return tuple(out)


def _distinct(envs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One of each distinct environment, in order: a thousand copies cost one comparison."""
    seen: dict[str, Mapping[str, Any]] = {}
    for env in envs:
        seen.setdefault(json.dumps(env, sort_keys=True, default=str), env)
    return list(seen.values())


def environments(runs: Sequence[RunCore]) -> tuple[Environment, ...]:
    """The newest run's environment when every run agrees on the keys that matter; otherwise
    one per distinct combination of those keys, with the runs that share it (oldest first)."""
    if not runs:
        return ()
    envs = [r.environment or {} for r in runs]
    if not diff(envs[:-1], envs[-1]):
        groups = {"": [runs[-1]]}
    else:
        groups = {}
        for run in runs:
            key = json.dumps(_flat(run.environment or {}), sort_keys=True, default=str)
            groups.setdefault(key, []).append(run)
    out = []
    for members in groups.values():
        env = members[-1].environment or {}
        packages = env.get("packages") or {}
        out.append(Environment(
            run_ids=tuple(r.run_id for r in members),
            values={k: v for k, v in env.items() if k != "packages"},
            packages=dict(sorted((str(k), str(v)) for k, v in packages.items())),
            overhead=members[-1].overhead))
    return tuple(out)
