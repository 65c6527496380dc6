"""`rpa mcp` driven by the MCP SDK's own client over stdio: tools from the skills, a skill run on the
sandbox through the loop, history read back, and no secret in any answer."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


async def test_mcp_round_trip(sandbox, rpa_home, tmp_path):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    lib = tmp_path / "skills"
    lib.mkdir()
    (lib / "search_invoices.yaml").write_text((REPO / "recordings" / "login_and_search.yaml").read_text()
                                              .replace("name: login_and_search", "name: search_invoices"))
    env = {**os.environ, "RPA_HOME": str(rpa_home), "RPA_SECRET_PASSWORD": "wonderland",
           "RPA_CACHE_DIR": str(REPO / ".cache")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "engine.cli.main", "mcp", "--library", str(lib)],
                                   env=env, cwd=str(REPO))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"search_invoices", "download_invoice", "submit_form", "run_instruction", "list_runs", "get_run"} <= set(tools)
        schema = tools["submit_form"].input_schema
        assert schema["properties"]["department"]["enum"] == ["Finance", "Sales", "Operations", "IT"]
        assert "password" not in schema["properties"] and schema["additionalProperties"] is False

        bad = await session.call_tool("search_invoices", {"password": "x"})
        assert bad.is_error and "no param" in bad.content[0].text

        res = await session.call_tool("search_invoices", {"base_url": sandbox.url, "supplier": "Initech"})
        text = res.content[0].text
        assert not res.is_error, text
        answer = json.loads(text)
        assert answer["status"] == "succeeded" and "7 invoices found" in json.dumps(answer["runs"][0]["outputs"])
        assert "wonderland" not in text
        run_id = answer["runs"][0]["run_id"]

        runs = json.loads((await session.call_tool("list_runs", {"limit": 5})).content[0].text)["runs"]
        assert run_id in [r["id"] for r in runs]
        got = await session.call_tool("get_run", {"run_id": run_id})
        rec = json.loads(got.content[0].text)
        assert rec["status"] == "succeeded" and rec["plan_name"] == "search_invoices" and rec["steps"]
        assert "wonderland" not in got.content[0].text

        amb = await session.call_tool("run_instruction", {"instruction": "sign out of the sandbox"})
        assert amb.is_error and "ambiguous" in amb.content[0].text
