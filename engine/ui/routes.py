"""The dashboard's pages, fragments (for live refresh), JSON answers and POST actions.

Reads run in Starlette's thread pool (the stores are synchronous); every POST passes ``action``,
which checks the session's CSRF token (and the Origin header when a browser sends one) before
anything changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from engine.errors import RpaError
from engine.logs import mask
from engine.ui import files, views
from engine.ui.daemon_state import daemon_state
from engine.ui.security import COOKIE, SESSION_IDLE_S, Session, csrf_ok

HERE = Path(__file__).resolve().parent
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
JOB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
Handler = Callable[[Request], Awaitable[Response]]


# -- helpers ---------------------------------------------------------------------------------------


def _state(request: Request) -> Any:
    return request.app.state


def _session(request: Request) -> Session | None:
    return request.scope.get("state", {}).get("session")


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    st = _state(request)
    base = {
        "session": _session(request),
        "nav": request.url.path,
        "queues": _items_available(),
        "daemon": daemon_state(st.jobs.url, st.settings),
        "notice": _pop_notice(request),
    }
    return st.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def fragment(request: Request, name: str, context: dict[str, Any]) -> Response:
    return _state(request).templates.TemplateResponse(
        request, name, {"session": _session(request), **context}
    )


def json_answer(data: Any, status_code: int = 200) -> Response:
    text = mask(json.dumps(data, default=str, ensure_ascii=False))
    return Response(text, status_code=status_code, media_type="application/json")


def _pop_notice(request: Request) -> str | None:
    session = _session(request)
    if session is None:
        return None
    notice, session.notice = session.notice, None
    return notice


def back(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
    """After a POST: to ``path``, which shows ``notice`` once."""
    session = _session(request)
    if session is not None:
        session.notice = notice
    return RedirectResponse(path, status_code=303)


def action(handler: Callable[[Request, FormData], Awaitable[Response]]) -> Handler:
    """A state change: a POST with the session's CSRF token, from our own origin."""

    async def wrapped(request: Request) -> Response:
        session = _session(request)
        if session is None:
            return PlainTextResponse("Ui.request: log in first.", status_code=401)
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is not None and origin != own:
            return PlainTextResponse(
                "Ui.action: refused, the request came from another site.", status_code=403
            )
        form = await request.form()
        given = form.get("csrf") or request.headers.get("x-csrf-token")
        if not csrf_ok(session, given if isinstance(given, str) else None):
            return PlainTextResponse(
                "Ui.action: refused, the CSRF token is missing or wrong. Reload the page and try again.",
                status_code=403,
            )
        return await handler(request, form)

    wrapped.__name__ = handler.__name__
    return wrapped


def _items_available() -> bool:
    from engine.ui import queues

    return queues.available()


# -- login -----------------------------------------------------------------------------------------


def _login_response(request: Request) -> Response:
    st = _state(request)
    session = st.sessions.create()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=SESSION_IDLE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=st.config.tls,
    )
    return response


def _login_page(request: Request, error: str | None, status_code: int) -> Response:
    return _state(request).templates.TemplateResponse(
        request, "login.html", {"error": error, "session": None}, status_code=status_code
    )


async def login(request: Request) -> Response:
    st = _state(request)
    if request.method == "POST":
        form = await request.form()
        token = form.get("token")
    else:
        token = request.query_params.get("token")
    if token is None:
        return (
            RedirectResponse("/", status_code=303) if _session(request) else _login_page(request, None, 200)
        )
    if not st.sessions.token_ok(token if isinstance(token, str) else None):
        return _login_page(
            request,
            "That token is not this dashboard's. Use the address rpa ui printed, or RPA_UI_TOKEN.",
            401,
        )
    return _login_response(request)


@action
async def logout(request: Request, form: FormData) -> Response:
    session = _session(request)
    if session is not None:
        _state(request).sessions.drop(session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- runs ------------------------------------------------------------------------------------------


def _runs_context(request: Request) -> dict[str, Any]:
    st = _state(request)
    flt = views.run_filter(request.query_params)
    runs = views.list_runs(st.history, flt)
    return {"runs": runs, "filter": flt, "launches": st.launcher.launches(), "statuses": views.STATUS_FILTERS}


def runs_page(request: Request) -> Response:
    st = _state(request)
    ctx = _runs_context(request)
    bots = sorted(
        {b.name for b in views.list_bots(st.settings, st.config.plan_dirs).bots}
        | {r.plan_name for r in ctx["runs"]}
    )
    jobs = [j.id for j in st.jobs.all()]
    return page(request, "runs.html", {**ctx, "bot_names": bots, "job_ids": jobs})


def runs_fragment(request: Request) -> Response:
    return fragment(request, "_runs_table.html", _runs_context(request))


def runs_api(request: Request) -> Response:
    ctx = _runs_context(request)
    return json_answer(
        {
            "runs": [r.to_json() for r in ctx["runs"]],
            "launches": [launch.model_dump(mode="json") for launch in ctx["launches"]],
        }
    )


def _record(request: Request) -> Any:
    run_id = request.path_params["run_id"]
    if not RUN_ID_RE.match(run_id):
        return None
    return _state(request).history.get_run(run_id)


def _run_context(request: Request, record: Any) -> dict[str, Any]:
    st = _state(request)
    base = files.run_folder(record, st.settings)
    shots = {}
    for step in record.steps:
        if step.screenshot:
            try:
                shots[step.step_id] = str(Path(step.screenshot).resolve().relative_to(base.resolve()))
            except ValueError:
                pass
    return {"run": record, "files": files.listing(record, st.settings), "shots": shots}


def run_page(request: Request) -> Response:
    record = _record(request)
    if record is None:
        return page(request, "missing.html", {"what": "run", "name": request.path_params["run_id"]}, 404)
    return page(request, "run.html", _run_context(request, record))


def run_fragment(request: Request) -> Response:
    record = _record(request)
    if record is None:
        return PlainTextResponse("no such run", status_code=404)
    return fragment(request, "_run_body.html", _run_context(request, record))


def run_api(request: Request) -> Response:
    record = _record(request)
    if record is None:
        return json_answer({"error": "no such run"}, 404)
    return json_answer(record.to_json())


def run_file(request: Request) -> Response:
    record = _record(request)
    if record is None or record.id != request.path_params["run_id"]:  # files need the full id
        return PlainTextResponse("not found", status_code=404)
    found = files.resolve_run_file(record, _state(request).settings, request.path_params["path"])
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    body = files.read_masked_text(found)
    disposition = "inline" if found.inline else "attachment"
    headers = {
        **found.headers,
        "content-disposition": f'{disposition}; filename="{_ascii_name(found.path.name)}"',
    }
    if body is not None:
        return Response(body, media_type=found.media_type, headers=headers)
    return FileResponse(found.path, media_type=found.media_type, headers=headers)


def _ascii_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"


# -- bots ------------------------------------------------------------------------------------------


def bots_page(request: Request) -> Response:
    st = _state(request)
    library = views.list_bots(st.settings, st.config.plan_dirs)
    return page(request, "bots.html", {"library": library, "secret_names": views.secret_names(st.settings)})


@action
async def bot_run(request: Request, form: FormData) -> Response:
    st = _state(request)
    bot = await run_in_threadpool(
        views.find_bot, st.settings, st.config.plan_dirs, request.path_params["key"]
    )
    if bot is None:
        return back(request, "/bots", "That bot is not in the library (any more); reload the page.")
    params = {}
    for p in bot.params:
        value = form.get(f"param.{p.name}")
        if isinstance(value, str) and value != "" and value != (p.default or ""):
            params[p.name] = value
    launch = await run_in_threadpool(st.launcher.run_plan, bot.path, params, bot.name)
    return back(request, "/", f"Started {bot.name} (process {launch.pid}).")


# -- schedules -------------------------------------------------------------------------------------


def schedules_page(request: Request) -> Response:
    st = _state(request)
    try:
        jobs, error = views.list_schedules(st.jobs), None
    except RpaError as err:
        jobs, error = [], mask(err.message)
    return page(request, "schedules.html", {"jobs": jobs, "error": error})


@action
async def schedule_action(request: Request, form: FormData) -> Response:
    from engine.jobs.manage import remove_job, set_paused

    st = _state(request)
    job_id, verb = request.path_params["job_id"], request.path_params["verb"]
    if not JOB_ID_RE.match(job_id):
        return back(request, "/schedules", "No such job.")
    try:
        if verb == "pause":
            await run_in_threadpool(set_paused, job_id, True, settings=st.settings)
            notice = f"Paused {job_id}."
        elif verb == "resume":
            await run_in_threadpool(set_paused, job_id, False, settings=st.settings)
            notice = f"Resumed {job_id}."
        elif verb == "remove":
            await run_in_threadpool(remove_job, job_id, settings=st.settings)
            notice = f"Removed {job_id} (its runs stay in the history)."
        elif verb == "run":
            await run_in_threadpool(
                st.jobs.get, job_id
            )  # a one-line error for an unknown id, before starting
            launch = await run_in_threadpool(st.launcher.run_job, job_id)
            notice = f"Running {job_id} now (process {launch.pid})."
        else:
            return PlainTextResponse("unknown action", status_code=404)
    except RpaError as err:
        notice = mask(err.message)
    return back(request, "/schedules", notice)


def plan_page(request: Request) -> Response:
    from engine.ui.gantt import build_plan, render_svg

    st = _state(request)
    hours = _number(request.query_params.get("hours"), 1.0, 0.05, 168.0)
    slots = int(_number(request.query_params.get("slots"), 1, 1, 64))
    try:
        plan, error = build_plan(st.jobs, hours=hours, slots=slots), None
    except RpaError as err:
        plan, error = None, mask(err.message)
    return page(
        request,
        "plan.html",
        {
            "plan": plan,
            "svg": render_svg(plan) if plan else "",
            "hours": hours,
            "slots": slots,
            "error": error,
        },
    )


def _number(text: str | None, default: float, lo: float, hi: float) -> float:
    try:
        value = float(text) if text else default
    except ValueError:
        value = default
    return min(max(value, lo), hi)


def daemon_api(request: Request) -> Response:
    st = _state(request)
    return json_answer(daemon_state(st.jobs.url, st.settings).model_dump(mode="json"))


# -- secrets ---------------------------------------------------------------------------------------


def secrets_page(request: Request) -> Response:
    return page(request, "secrets.html", {"view": views.secrets_view(_state(request).settings)})


@action
async def secret_set(request: Request, form: FormData) -> Response:
    from engine.logs import register_secret
    from engine.secrets import SecretStore

    name, value = form.get("name"), form.get("value")
    if not isinstance(name, str) or not isinstance(value, str) or not name.strip() or value == "":
        return back(request, "/secrets", "Give a name and a value.")
    register_secret(value)  # before anything could echo it
    try:
        await run_in_threadpool(SecretStore(_state(request).settings).set, name.strip(), value)
    except RpaError as err:
        return back(request, "/secrets", mask(err.message))
    return back(request, "/secrets", f"Stored {name.strip()}.")


@action
async def secret_remove(request: Request, form: FormData) -> Response:
    from engine.secrets import SecretStore

    name = request.path_params["name"]
    try:
        await run_in_threadpool(SecretStore(_state(request).settings).remove, name)
    except RpaError as err:
        return back(request, "/secrets", mask(err.message))
    return back(request, "/secrets", f"Removed {name}.")


# -- queues ----------------------------------------------------------------------------------------


def queues_page(request: Request) -> Response:
    from engine.ui import queues

    if not queues.available():
        return page(request, "missing.html", {"what": "page", "name": "queues"}, 404)
    return page(request, "queues.html", {"queues": queues.summaries(_state(request).settings)})


@action
async def queue_retry(request: Request, form: FormData) -> Response:
    from engine.ui import queues

    if not queues.available():
        return PlainTextResponse("not found", status_code=404)
    st = _state(request)
    try:
        row = await run_in_threadpool(queues.find, st.settings, request.path_params["name"])
    except RpaError as err:
        return back(request, "/queues", mask(err.message))
    launch = await run_in_threadpool(st.launcher.retry_queue, row.id)
    return back(request, "/", f"Retrying the failed items of queue {row.id} (process {launch.pid}).")


def routes() -> list[Any]:
    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", runs_page),
        Route("/fragments/runs", runs_fragment),
        Route("/api/runs", runs_api),
        Route("/runs/{run_id}", run_page),
        Route("/fragments/runs/{run_id}", run_fragment),
        Route("/api/runs/{run_id}", run_api),
        Route("/runs/{run_id}/files/{path:path}", run_file),
        Route("/bots", bots_page),
        Route("/bots/{key}/run", bot_run, methods=["POST"]),
        Route("/schedules", schedules_page),
        Route("/schedules/{job_id}/{verb}", schedule_action, methods=["POST"]),
        Route("/plan", plan_page),
        Route("/api/daemon", daemon_api),
        Route("/secrets", secrets_page),
        Route("/secrets", secret_set, methods=["POST"]),
        Route("/secrets/{name}/remove", secret_remove, methods=["POST"]),
        Route("/queues", queues_page),
        Route("/queues/{name}/retry", queue_retry, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
