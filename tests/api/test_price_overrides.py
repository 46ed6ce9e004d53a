"""Price overrides: /v1/admin/prices and ``agentguide prices``, and the repricing of stored runs
that follows a change. Every model here has a random name, so no other test sees its prices."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.api.builders import HOUR_NS, AgentRun, send_runs, unique
from tests.api.test_costs import chat, llm_steps, run_of
from tests.support import REPO_ROOT, RunningServer, wait_derived

T_OVERRIDE = 1_719_792_000 * 10**9  # 2024-07-01T00:00:00Z


@pytest.fixture(scope="module")
def derived(agentguide_server: RunningServer) -> Any:
    """Wait until the deriver has caught up (re-derivations included)."""
    return lambda: wait_derived(agentguide_server.database_url or "")


def custom_run(model: str, start_ns: int = T_OVERRIDE) -> AgentRun:
    # 2M input tokens of which 1M read from the cache, 0.5M output tokens
    cached = {"gen_ai.usage.cache_read.input_tokens": 1_000_000}
    return AgentRun(
        unique("custom"), start_ns, 1000, llms=[chat(model, 10, 2_000_000, 500_000, **cached)]
    )


def test_an_override_prices_a_custom_model_and_its_changes_reprice_stored_runs(
    api: httpx.Client, agentguide_server: RunningServer, derived: Any
) -> None:
    family = unique("acme-ft")
    run = custom_run(f"{family}:v1")
    send_runs(agentguide_server.http_url, [run])
    derived()
    assert run_of(api, run)["cost"] is None

    body = {"model": f"{family}:*", "input_per_mtok": "0.5", "output_per_mtok": 2,
            "cached_input_per_mtok": 0.125}  # fmt: skip
    created = api.post("/v1/admin/prices", json=body)
    assert created.status_code == 201, created.text
    change = created.json()
    override_id = change["override"]["id"]
    assert change["replaced"] is False
    assert change["rederive_queued"] == 1
    assert change["override"] | {"created_at": None} == {
        "id": override_id, "model": f"{family}:*", "provider": None, "input_per_mtok": 0.5,
        "cached_input_per_mtok": 0.125, "cache_write_per_mtok": None, "output_per_mtok": 2.0,
        "valid_from": None, "created_at": None,
    }  # fmt: skip
    derived()
    detail = run_of(api, run)
    (step,) = llm_steps(detail)
    # 1M uncached input at 0.5, 1M cache reads at 0.125, 0.5M output at 2 (per 1M tokens)
    assert step["cost"] == 0.5 + 0.125 + 1.0
    assert (step["cost_source"], step["price_version"]) == ("computed", f"override {override_id}")
    assert (detail["cost"], detail["price_versions"]) == (1.625, [f"override {override_id}"])

    # Setting the same model, provider and start again replaces the prices.
    replaced = api.post("/v1/admin/prices", json={**body, "input_per_mtok": 1})
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["override"]["id"], replaced.json()["replaced"]) == (override_id, True)
    derived()
    assert run_of(api, run)["cost"] == 1.0 + 0.125 + 1.0

    # An override from a later date leaves calls before it alone (and queues nothing older).
    later = {**body, "input_per_mtok": 100, "valid_from": "2024-07-02T00:00:00Z"}
    future = api.post("/v1/admin/prices", json=later)
    assert future.status_code == 201, future.text
    assert future.json()["rederive_queued"] == 0
    assert future.json()["override"]["valid_from"] == "2024-07-02T00:00:00Z"
    listed = api.get("/v1/admin/prices").json()["items"]
    assert {override_id, future.json()["override"]["id"]} <= {item["id"] for item in listed}
    derived()
    assert run_of(api, run)["cost"] == 2.125

    # Deleting the override in force makes the call unpriced again.
    deleted = api.delete(f"/v1/admin/prices/{override_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["rederive_queued"] == 1
    derived()
    detail = run_of(api, run)
    (step,) = llm_steps(detail)
    assert (detail["cost"], step["cost_source"], step["unpriced_reason"]) == (
        None, "unpriced", "unknown model",
    )  # fmt: skip
    assert api.delete(f"/v1/admin/prices/{override_id}").status_code == 404
    assert api.delete(f"/v1/admin/prices/{future.json()['override']['id']}").status_code == 200


def test_a_trace_derived_after_a_change_gets_the_new_prices(
    api: httpx.Client, agentguide_server: RunningServer, derived: Any
) -> None:
    model = unique("fresh-ft")
    created = api.post(
        "/v1/admin/prices", json={"model": model, "input_per_mtok": 1, "output_per_mtok": 1}
    )
    assert created.status_code == 201, created.text
    assert created.json()["rederive_queued"] == 0
    run = custom_run(model, T_OVERRIDE + HOUR_NS)
    send_runs(agentguide_server.http_url, [run])
    derived()
    assert run_of(api, run)["cost"] == 2.5
    assert api.delete(f"/v1/admin/prices/{created.json()['override']['id']}").status_code == 200


GOOD = {"model": "m", "input_per_mtok": 1, "output_per_mtok": 1}


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({**GOOD, "model": ""}, "model"),
        ({**GOOD, "model": "x" * 257}, "model"),
        ({**GOOD, "model": "bad\x00name"}, "model"),
        ({**GOOD, "model": "line\nbreak"}, "model"),
        ({**GOOD, "provider": "p" * 129}, "provider"),
        ({**GOOD, "input_per_mtok": -1}, "input_per_mtok"),
        ({**GOOD, "input_per_mtok": "NaN"}, "input_per_mtok"),
        ({**GOOD, "output_per_mtok": "ten"}, "output_per_mtok"),
        ({**GOOD, "output_per_mtok": 1e7}, "output_per_mtok"),
        ({**GOOD, "cached_input_per_mtok": "Infinity"}, "cached_input_per_mtok"),
        ({**GOOD, "valid_from": "yesterday"}, "valid_from"),
        ({**GOOD, "valid_from": -5}, "valid_from"),
        ({"model": "m", "input_per_mtok": 1}, "output_per_mtok"),
        ({**GOOD, "colour": "blue"}, "colour"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(
    api: httpx.Client, body: dict[str, Any], parameter: str
) -> None:
    response = api.post("/v1/admin/prices", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameters"] == [parameter]


def test_bad_override_ids_are_refused(api: httpx.Client) -> None:
    assert api.delete("/v1/admin/prices/0").status_code == 422
    assert api.delete("/v1/admin/prices/abc").status_code == 422
    assert api.delete("/v1/admin/prices/99999999999").status_code == 404
    response = api.post(
        "/v1/admin/prices", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


# --- the command line ----------------------------------------------------------------------


def prices(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentguide.cli", "prices", *args, "--database-url", database_url],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip


def test_the_prices_command_sets_lists_and_deletes(
    api: httpx.Client, agentguide_server: RunningServer, derived: Any
) -> None:
    database_url = agentguide_server.database_url or ""
    model = unique("cli-ft")
    run = custom_run(model, T_OVERRIDE + 2 * HOUR_NS)
    send_runs(agentguide_server.http_url, [run])
    derived()

    done = prices(database_url, "set", "--model", model.upper(), "--input", "3",
                  "--output", "0.5", "--cached-input", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr
    override_id = int(done.stdout.splitlines()[1].split()[0])
    assert model.upper() in done.stdout
    assert f"set price override {override_id}; 1 stored trace(s) queued" in done.stderr
    derived()
    # model names match case-insensitively: 1M uncached at 3, 1M cached at 0, 0.5M output at 0.5
    assert run_of(api, run)["cost"] == 3.25

    listing = prices(database_url, "list", "--project", "default")
    assert listing.returncode == 0, listing.stderr
    assert any(line.split()[:3] == [str(override_id), "default", model.upper()]
               for line in listing.stdout.splitlines())  # fmt: skip

    assert prices(database_url, "delete", str(override_id)).returncode == 0
    gone = prices(database_url, "delete", str(override_id))
    assert gone.returncode == 1
    assert f"there is no price override {override_id}" in gone.stderr
    derived()
    assert run_of(api, run)["cost"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "abc", "--output", "1"], "input: must be a number"),
        (["--input", "-1", "--output", "1"], "input: must be a number from 0 to 1000000"),
        (["--input", "1", "--output", "1", "--valid-from", "soon"], "valid-from: must be"),
        (["--input", "1", "--output", "1", "--project", "no-such-project"], "no project named"),
    ],
)
def test_the_prices_command_refuses_bad_input(
    agentguide_server: RunningServer, args: list[str], message: str
) -> None:
    done = prices(agentguide_server.database_url or "", "set", "--model", "m", *args)
    assert done.returncode == 2
    assert message in done.stderr
