"""``rpa mcp``: the skills library over the Model Context Protocol (stdio, the official ``mcp`` SDK).

Tools: one per skill, whose input schema is the skill's params (types and choices where the plan says
so; secrets are never inputs), plus ``run_instruction`` (routes like ``rpa run --instruction``),
``list_runs`` and ``get_run``. Every run goes through ``engine.loop.run_batch`` with a ``JobSpec``, so
history, the allowlist and secret masking are the CLI's; secret values come from the secret store or
``RPA_SECRET_<NAME>`` and every answer is masked before it leaves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loguru import logger

from engine.config import Settings, get_settings
from engine.errors import ConfigError, RpaError
from engine.logs import mask
from engine.skills.library import Library, load_library
from engine.skills.models import Skill

FIXED_TOOLS = ("run_instruction", "list_runs", "get_run")


def param_schema(skill: Skill) -> dict[str, Any]:
    """JSON Schema of a skill's params: strings, with enums for choices; required = no default."""
    props: dict[str, Any] = {}
    required = []
    for name, p in skill.plan.params.items():
        prop: dict[str, Any] = {"type": "string"}
        if p.description:
            prop["description"] = p.description
        if p.choices:
            prop["enum"] = list(p.choices)
        if p.type in ("email", "date", "url"):
            prop["format"] = {"email": "email", "date": "date", "url": "uri"}[p.type]
        if p.default is not None:
            prop["default"] = p.default
        else:
            required.append(name)
        props[name] = prop
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _text(data: Any) -> str:
    return mask(json.dumps(data, indent=2, default=str, ensure_ascii=False))


class SkillServer:
    """The tools and what they do; transport-free, so it is the same over stdio or in a test."""

    def __init__(self, settings: Settings, library: Library) -> None:
        self.settings, self.library = settings, library
        clash = [s.name for s in library.skills if s.name in FIXED_TOOLS]
        if clash:
            raise ConfigError(f"Skills.mcp: skill name(s) {clash} clash with the server's own tools. Rename them.")

    def tools(self) -> list[dict[str, Any]]:
        out = [{"name": s.name, "description": s.description or s.name, "input_schema": param_schema(s)}
               for s in self.library.skills]
        out.append({"name": "run_instruction", "description": "Route an instruction to the recorded bot(s) that do "
                    "it, fill their params from its words, and run them (nothing runs when it is ambiguous).",
                    "input_schema": {"type": "object", "required": ["instruction"], "additionalProperties": False,
                                     "properties": {"instruction": {"type": "string"},
                                                    "url": {"type": "string", "description": "Start page for the "
                                                            "open-world planner when no bot fits."}}}})
        out.append({"name": "list_runs", "description": "The newest runs in the history.",
                    "input_schema": {"type": "object", "additionalProperties": False,
                                     "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 200}}}})
        out.append({"name": "get_run", "description": "One run with its steps (a run id or a unique prefix).",
                    "input_schema": {"type": "object", "required": ["run_id"], "additionalProperties": False,
                                     "properties": {"run_id": {"type": "string"}}}})
        return out

    def call(self, name: str, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(answer, is_error) of one tool call; our errors are answers, never tracebacks."""
        try:
            if name == "run_instruction":
                return self.run_instruction(str(args.get("instruction") or ""), args.get("url"))
            if name == "list_runs":
                from engine.history import History

                runs = History(self.settings).list_runs(limit=int(args.get("limit") or 20))
                return {"runs": [r.to_json() for r in runs]}, False
            if name == "get_run":
                from engine.history import History

                rec = History(self.settings).get_run(str(args.get("run_id") or ""))
                if rec is None:
                    return {"error": f"no run '{args.get('run_id')}'"}, True
                return rec.to_json(), False
            return self.run_skill(self.library.get(name), args)
        except RpaError as err:
            return {"status": "failed", "error": err.message, "error_kind": err.kind.value}, True

    def run_skill(self, skill: Skill, args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        unknown = sorted(set(args) - set(skill.plan.params))
        if unknown:  # secrets included: they are never tool inputs
            raise ConfigError(f"Skills.mcp: {skill.name} has no param(s) {unknown}; its params are "
                              f"{sorted(skill.plan.params)}.")
        from engine.loop import JobSpec

        job = JobSpec(plan=skill.plan, plan_path=str(skill.path), params={k: str(v) for k, v in args.items()})
        return self._run(job)

    def run_instruction(self, instruction: str, url: str | None) -> tuple[dict[str, Any], bool]:
        from engine.loop import JobSpec
        from engine.skills import record_routing, route_instruction, routed_plan
        from engine.skills.run import check_routing

        routing = route_instruction(instruction, self.settings, library=self.library)
        routed = check_routing(routing, url=url)  # ambiguous: an error answer, nothing runs
        if routed is None:
            answer, failed = self._run(JobSpec(instruction=instruction, url=url))
            return {"routing": routing.summary_json(), **answer}, failed
        answer, failed = self._run(JobSpec(plan=routed_plan(routed), instruction=instruction))
        for run in answer.get("runs", []):
            if run.get("status") == "succeeded" and run.get("run_id"):
                from engine.history import History

                record_routing(History(self.settings), routed, run["run_id"], "succeeded")
        return {"routing": routing.summary_json(), **answer}, failed

    def _run(self, job: Any) -> tuple[dict[str, Any], bool]:
        from engine.loop import run_batch

        batch = run_batch([job], settings=self.settings)
        runs = [r.summary_json() for r in batch.runs]
        errors = [e.error for e in batch.entries if not e.ok and e.error]
        return {"status": "succeeded" if batch.ok else "failed", "runs": runs, "errors": errors}, not batch.ok


def build_server(skills: SkillServer) -> Any:
    """The SDK's low-level server with our two handlers (tools change with the library, so no decorators)."""
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server

    async def list_tools(_ctx: Any, _params: Any) -> Any:
        return types.ListToolsResult(tools=[types.Tool(**t) for t in skills.tools()])

    async def call_tool(_ctx: Any, params: Any) -> Any:
        answer, failed = await anyio.to_thread.run_sync(skills.call, params.name, dict(params.arguments or {}))
        text = _text(answer)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=json.loads(text),
                                    is_error=failed)

    return Server("rpa-skills", version="1", instructions="Run the user's recorded browser bots.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve(folders: list[Path] | None = None, settings: Settings | None = None) -> None:
    """Serve until the client closes stdin. Logs go to stderr only (stdout is the protocol)."""
    import anyio
    from mcp.server.stdio import stdio_server

    settings = (settings or get_settings()).ensure()
    skills = SkillServer(settings, load_library(settings, folders))
    server = build_server(skills)
    logger.info("mcp: serving {} skill(s)", len(skills.library.skills))

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
