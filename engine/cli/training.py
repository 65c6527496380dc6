"""Training commands: ``rpa train`` (LoRA fine-tuning of the planner) and ``rpa models``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.config import get_settings
from engine.errors import ConfigError

console = Console(stderr=True)


def cmd_train(
    from_history: bool = typer.Option(False, "--from-history", help="Decisions of successful runs in the history."),
    recordings: Path | None = typer.Option(None, "--recordings", help="A folder of recordings (replayed on the sandbox)."),
    dataset: list[Path] = typer.Option([], "--dataset", help="JSON-lines file(s): rpa export-dataset or chat format."),
    base: str | None = typer.Option(None, "--base", help="Base model: default the embedded one; a trained NAME, folder or .gguf."),
    name: str | None = typer.Option(None, "--name", help="Name of the new model under RPA_HOME/models (default: planner-N)."),
    epochs: int = typer.Option(2, "--epochs", min=1, max=100),
    lr: float = typer.Option(3e-4, "--lr", min=1e-7, help="Learning rate of the adapter."),
    rank: int = typer.Option(8, "--rank", min=1, max=256, help="LoRA rank."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: RPA_DEVICE, else cuda if present)."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    save_examples: Path | None = typer.Option(None, "--save-examples", help="Also write the (masked) examples as JSON lines."),
    explore: str | None = typer.Option(None, "--explore", help="Practice tasks: sandbox-login, sandbox-invoice, "
                                       "sandbox-search and MiniWoB++ names (or a file); sample, keep successes, train."),
    rounds: int = typer.Option(1, "--rounds", min=1, max=20, help="Exploration rounds (with --explore)."),
    episodes: int = typer.Option(10, "--episodes", min=1, help="Episodes per task per round (with --explore)."),
    contrast: float = typer.Option(1.0, "--contrast", min=0.0,
                                   help="Weight of the ranking loss against the other candidates an example lists "
                                        "(exploration records them); 0 trains the answer's likelihood only."),
    likelihood: float = typer.Option(0.0, "--likelihood", min=0.0,
                                     help="Weight of the answer's likelihood next to the ranking loss (0: choices "
                                          "only; examples without alternatives are then left out)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing model of that name."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Fine-tune the planner (LoRA) on examples in its own decision format; the base is never modified."""
    from engine.training import TrainConfig, collect, model_dir, train, write_jsonl

    settings = get_settings()
    if name is None:
        n = 1
        while (settings.models_dir / f"planner-{n}").exists():
            n += 1
        name = f"planner-{n}"
    target = model_dir(settings, name)
    if target.exists() and not force:  # say so before the sources are read (replays take a while)
        raise ConfigError(f"Training: model '{name}' exists at {target}. Choose another --name or pass --force.")
    config = TrainConfig(name=name, base=base, epochs=epochs, lr=lr, rank=rank, batch_size=batch_size,
                         device=device, threads=threads, force=force, contrast=contrast,
                         likelihood=likelihood)
    if explore:
        _explore(settings, explore, name, rounds, episodes, base, config, as_json)
        return
    got = collect(settings, history=from_history, recordings=recordings, datasets=list(dataset))
    counts = got.counts()
    console.print(f"{len(got.examples)} example(s): "
                  + (", ".join(f"{v} from {k}" for k, v in sorted(counts.items())) or "none"), highlight=False)
    for why, v in sorted(got.skipped.items()):
        console.print(f"  left out {v}: {why}", style="dim", highlight=False)
    if not got.examples:
        raise ConfigError("Training: no usable example in the given sources (see 'left out' above).")
    if save_examples is not None:
        write_jsonl(got.examples, save_examples)
    with _train_bar(as_json) as bar:
        result = train(got.examples, config, settings, on_progress=bar.on_progress(name))
    info = result.info
    if as_json:
        sys.stdout.write(json.dumps({**info.model_dump(mode="json"), "path": str(result.path),
                                     "first_loss": round(result.first_loss, 4), "last_loss": round(result.last_loss, 4),
                                     "left_out": dict(got.skipped), "too_long": result.dropped_long,
                                     "no_alternatives": result.no_alternatives}, indent=2) + "\n")
        return
    console.print(f"[green]saved[/] {result.path} ({info.steps} steps in {info.seconds:.0f} s, "
                  f"{info.examples_per_s:.1f} examples/s on {info.device}; loss per epoch {info.losses}). "
                  f"Use it with: --model {name} (or RPA_MODEL={name})", highlight=False)


class _train_bar:
    """One rich bar per training (loss, examples/s, time left), one per practice round."""

    def __init__(self, quiet: bool) -> None:
        self.bar = Progress(TextColumn("[bold]{task.fields[what]}[/] {task.fields[name]}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=console, transient=quiet)

    def __enter__(self) -> _train_bar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def on_progress(self, name: str):  # noqa: ANN201
        task = self.bar.add_task("train", total=None, what="train", name=name, info="")

        def update(p) -> None:  # noqa: ANN001
            self.bar.update(task, completed=p.step, total=p.total,
                            info=f"epoch {p.epoch} loss {p.loss:.3f} {p.examples_per_s:.1f} ex/s")

        return update

    def practice(self, name: str, total: int):  # noqa: ANN201
        task = self.bar.add_task("practice", total=total, what="practice", name=name, info="")
        done = {"ok": 0, "n": 0}

        def update(_task: str, good: bool) -> None:
            done["ok"] += int(good)
            done["n"] += 1
            self.bar.update(task, completed=done["n"], info=f"{done['ok']} succeeded")
            if done["n"] == total:  # the next round gets a new bar
                done["ok"] = done["n"] = 0

        return update


def _explore(settings, spec: str, name: str, rounds: int, episodes: int, base: str | None, config,  # noqa: ANN001
             as_json: bool) -> None:
    from engine.training.explore import explore
    from engine.training.practice import parse_practice

    tasks = parse_practice(spec)

    def on_round(r) -> None:  # noqa: ANN001
        trained = f", trained {r.model} (loss {r.trained.info.losses})" if r.trained else ", nothing to train on"
        console.print(f"round {r.round}: {r.succeeded}/{r.episodes} episodes succeeded {r.succeeded_by_task}, "
                      f"{r.examples} example(s) from explore{trained}; seconds {r.seconds}", highlight=False)

    with _train_bar(as_json) as bar:
        results = explore(settings, tasks, name=name, rounds=rounds, episodes_per_task=episodes, base=base,
                          config=config, on_round=on_round, on_progress=bar.on_progress(name),
                          on_episode=bar.practice(name, len(tasks) * episodes))
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in results], indent=2, default=str) + "\n")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    app.command("train")(cmd_train)
