"""The report's "Where the CPU goes": a table of layers per app and a flame graph per app,
written beside report.md (harness.render.profile_section, harness.render.flamegraph)."""

import shutil
from pathlib import Path

from harness.analysis import profiles
from harness.commands import report
from harness.model import stacks, store
from harness.model.results import Profile
from harness.render import flamegraph
from tests.fixtures.report import builders as b

FIXTURES = Path(__file__).parent.parent / "fixtures" / "profiles"
APPS = ("flask_sync", "fastapi_sync", "fastapi_async")


def profiled_run(results: Path):
    """A run whose scenario was profiled: fastapi_sync could not be sampled."""
    cells = b.rounds({a: [800.0, 810.0, 790.0] for a in APPS}, scenario="users_list",
                     connections=12)
    run = b.run(cells, run_id="20261201T100000Z",
                scenarios=[b.scenario("users_list", APPS, profile=12)])
    (results / run.run_id / "profiles").mkdir(parents=True)
    for app in APPS:
        p = Profile(scenario="users_list", app=app, connections=12, rate_hz=100,
                    seconds=10.0, rps=600.0, error_rate=0.0)
        if app == "fastapi_sync":
            p.error = "py-spy could not sample the app: Permission denied"
        else:
            p.file = f"{run.run_id}/profiles/users_list-{app}-c12.txt"
            shutil.copy(FIXTURES / f"{app}.txt", results / p.file)
            p.samples = stacks.total(stacks.read(results / p.file))
        run.profiles.append(p)
    path = results / f"{run.run_id}.json"
    store.save(run, path)
    return run, path


def test_report_shows_layers_per_app_and_links_a_flame_graph_written_beside_it(tmp_path):
    results = tmp_path / "results"
    _, path = profiled_run(results)
    written = report.report([str(path)], str(tmp_path / "out"))
    out = tmp_path / "out"
    md = (out / "report.md").read_text()
    section = md[md.index("### Where the CPU goes: users_list"):]
    assert ("| app | connections | busy samples | server | routing and validation | "
            "serialization | ORM | driver | garbage collection | other | waiting (of all) | "
            "req/s while sampled |") in section
    rows = [line for line in section.splitlines()
            if line.startswith(("| fastapi_async |", "| flask_sync |"))]
    assert len(rows) == 2 and all(line.endswith("| 600 |") for line in rows)
    assert ("> No profile of `fastapi_sync` at 12 connections: py-spy could not sample the app: "
            "Permission denied.") in section
    for app in ("flask_sync", "fastapi_async"):
        name = f"flame-users_list-{app}-c12.svg"
        assert f"]({name})" in section
        svg = (out / name).read_text()
        assert svg.startswith("<?xml") and "<title>" in svg and "ORM" in svg
        assert out / name in written
    assert not (out / "flame-users_list-fastapi_sync-c12.svg").exists()
    html = (out / "report.html").read_text()
    assert html.count("<details><summary>") == 2 and "<?xml" not in html
    assert "`flame-users_list-flask_sync-c12.svg` beside report.md" in \
        (out / "summary.md").read_text()


def test_a_moved_results_directory_keeps_its_profiles_and_a_lost_file_is_said(tmp_path):
    run, _ = profiled_run(tmp_path / "a")
    shutil.move(tmp_path / "a", tmp_path / "b")  # the stacks are named from the results dir
    (tmp_path / "b" / run.profiles[0].file).unlink()
    report.report([str(tmp_path / "b")], str(tmp_path / "out"))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| fastapi_async | 12 |" in md
    assert (f"> No profile of `flask_sync` at 12 connections: its stacks "
            f"({run.profiles[0].file}) could not be read.") in md


def test_the_flame_graph_is_deterministic_and_each_box_is_as_wide_as_its_samples():
    raw = stacks.read(FIXTURES / "flask_sync.txt")
    p = profiles.profile(Profile(scenario="s", app="flask_sync", connections=12, rate_hz=100,
                                 file="x", samples=stacks.total(raw)), raw)
    first, again = flamegraph.render(p), flamegraph.render(p)
    assert first == again
    assert first.count("<rect") - 1 - 8 == sum(1 for _ in walk(p.flame))  # + background, legend
    root_w = (flamegraph.WIDTH - 2 * flamegraph.PAD)
    assert f'width="{root_w - 0.5:.2f}"' in first  # the root spans the whole width
    empty = profiles.profile(Profile(scenario="s", app="a", connections=1, rate_hz=100,
                                     error="no samples"), None)
    assert flamegraph.render(empty) == ""


def walk(node):
    yield node
    for c in node.children:
        yield from walk(c)
