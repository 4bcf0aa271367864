"""The ``crm`` command: run the system on the embedded default and operate it."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from crm_projections.entrypoints.cli import cli as projections
from crm_stack.dead_letters import cli as dead_letters

app = typer.Typer(help="The event-sourced CRM.", no_args_is_help=True)
app.add_typer(projections, name="projections")
app.add_typer(dead_letters, name="dead-letters")


@app.command()
def up() -> None:
    """Run the whole system on this machine (embedded broker and store by default)."""
    from crm_stack.launcher import run

    raise typer.Exit(run())


@app.command()
def token(
    role: Annotated[list[str], typer.Option(help="A role of the caller; repeat for several.")],
    user: Annotated[str, typer.Option(help="The caller's user id (the token subject).")],
    team: Annotated[str | None, typer.Option(help="The caller's sales team.")] = None,
    minutes: Annotated[int, typer.Option(min=1, max=24 * 60, help="Lifetime.")] = 60,
) -> None:
    """Mint a bearer token with the embedded signing key (embedded default only)."""
    from crm_runtime.auth import mint_token
    from crm_runtime.policy import Role
    from crm_runtime.settings import RuntimeSettings

    unknown = sorted(set(role) - Role.ALL)
    if unknown:
        raise typer.BadParameter(
            f"unknown role {', '.join(unknown)}; roles are {', '.join(sorted(Role.ALL))}",
            param_hint="--role",
        )
    settings = RuntimeSettings()
    if settings.auth_jwks_url or settings.auth_issuer.startswith("https://"):
        raise typer.BadParameter(
            "tokens come from your OIDC issuer when CRM_AUTH_ISSUER/CRM_AUTH_JWKS_URL are set"
        )
    typer.echo(
        mint_token(
            settings,
            subject=user,
            roles=role,
            team=team,
            lifetime=timedelta(minutes=minutes),
        )
    )


@app.command()
def trace(
    correlation_id: Annotated[
        str | None,
        typer.Argument(
            help="The correlation id: the X-Correlation-Id header of a command's answer, "
            "or the ce_correlationid header of an event on Kafka."
        ),
    ] = None,
    trace_id: Annotated[
        str | None,
        typer.Option(
            "--trace-id",
            help="Look up by trace instead: the X-Trace-Id header of any answer, or the "
            "trace_id of a problem body or log line.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")] = False,
) -> None:
    """Print the causal chain of one correlation across every context's event store.

    Roots are the commands; beneath each, the events it caused (time, context,
    type, subject@sequence, actor, event id, trace id); events caused by events
    nest under them. Exit code 1 when no event matches. Reads the stores that the
    CRM_* variables name (the embedded store in CRM_DATA_DIR by default).
    """
    from crm_stack.trace import run

    raise typer.Exit(run(correlation_id, trace_id, as_json))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
