"""The ``orchestrator`` command: run the service and manage its engine.

orchestrator engine install|configure|start|stop|status [--instance NAME]
    (the engine of ORCH_ENGINE: Asterisk, or FreeSWITCH, see docs/freeswitch.md)
orchestrator run            # engine + API on 127.0.0.1:8000 (see orchestrator.serve)
orchestrator db upgrade
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pydantic
import typer

from orchestrator import runtime, serve
from orchestrator.core.errors import ValidationError
from orchestrator.settings import Settings, get_settings
from orchestrator.store.users import check_admin_token

if TYPE_CHECKING:
    from orchestrator.engines.asterisk.kit import AsteriskInstance
    from orchestrator.engines.freeswitch.kit import FreeSwitchInstance

app = typer.Typer(help="Telephony orchestrator over Asterisk or FreeSWITCH.", no_args_is_help=True)
engine_app = typer.Typer(
    help="Install, configure and run the engine (ORCH_ENGINE).", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(engine_app, name="engine")
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    """The settings, or a one-line start-up error (exit status 2) naming what is wrong."""
    try:
        return get_settings()
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        typer.echo(f"error: bad settings: {problems}", err=True)
        raise typer.Exit(2) from None


def _instance(name: str | None, *, local: bool = True) -> AsteriskInstance | FreeSwitchInstance:
    """The engine instance to act on. ``local``: one this machine runs (start, stop)."""
    settings = _settings()
    if settings.engine == "freeswitch":
        from orchestrator.engines.freeswitch import kit as freeswitch

        if local and name is None and freeswitch.is_remote(settings.freeswitch):
            group = settings.freeswitch
            typer.echo(
                f"error: FreeSWITCH at {group.esl_host}:{group.esl_port} is remote "
                "(ORCH_FREESWITCH__ESL_HOST/ESL_PASSWORD): start and stop it where it runs",
                err=True,
            )
            raise typer.Exit(2)
        return freeswitch.configurable_instance(settings, name)
    if settings.engine != "asterisk":
        typer.echo(f"error: ORCH_ENGINE={settings.engine} runs no engine instance", err=True)
        raise typer.Exit(2)
    from orchestrator.engines.asterisk.kit import make_instance

    return make_instance(settings, name)


def _engine_errors(action: Callable[[], object]) -> None:
    """Run an engine command; its InstanceError as a one-line error (exit status 1)."""
    try:
        action()
    except (RuntimeError, OSError) as exc:  # each instance's InstanceError, a folder refused
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


InstanceOpt = typer.Option(None, "--instance", help="engine instance (default: settings)")


@engine_app.command("install")
def engine_install(instance: str | None = InstanceOpt) -> None:
    """Install Asterisk (Debian sid root via debootstrap, or the system's if >= 20); for
    FreeSWITCH, check that its binary is there (or say how to get one)."""
    _engine_errors(_instance(instance).install)


@engine_app.command("configure")
def engine_configure(instance: str | None = InstanceOpt) -> None:
    """Only write the base configuration (for an engine that runs elsewhere, e.g. Docker)."""
    _engine_errors(_instance(instance, local=False).configure)


@engine_app.command("start")
def engine_start(instance: str | None = InstanceOpt) -> None:
    """Write the base configuration and start Asterisk in the background."""
    inst = _instance(instance)

    def start() -> None:
        inst.install()
        inst.start()

    _engine_errors(start)


@engine_app.command("stop")
def engine_stop(instance: str | None = InstanceOpt) -> None:
    _engine_errors(_instance(instance).stop)


@engine_app.command("status")
def engine_status(instance: str | None = InstanceOpt) -> None:
    settings = _settings()
    if settings.engine == "freeswitch" and instance is None:
        from orchestrator.engines.freeswitch import kit as freeswitch

        if freeswitch.is_remote(settings.freeswitch):
            status = freeswitch.remote_status(settings.freeswitch)
            typer.echo(json.dumps(status, indent=2))
            raise typer.Exit(0 if status.get("running") else 1)
    status = _instance(instance).status()
    typer.echo(json.dumps(status, indent=2))
    if not status.get("running"):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    runtime.upgrade_database(_settings())
    typer.echo("database is up to date")


@app.command("run")
def run(
    no_engine: bool = typer.Option(False, help="do not start the local engine instance"),
) -> None:
    """Start the engine, then the API on ORCH_API_HOST:ORCH_API_PORT.

    Ctrl-C stops the service, then the engine if this command started it, once no
    channel is up or after ORCH_ENGINE_STOP_GRACE_S seconds; a second Ctrl-C stops it
    at once. An engine that was already running is left running, as on a start-up error.
    """
    settings = _settings()
    try:
        # Before the engine starts: a refused token must not leave an engine behind.
        check_admin_token(settings.admin_token)
    except ValidationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    serve.serve(settings, start_engine=not no_engine)


if __name__ == "__main__":
    app()
