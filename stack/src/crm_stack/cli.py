"""The ``crm`` command: run the system on the embedded default and operate it."""

from __future__ import annotations

import typer

from crm_projections.entrypoints.cli import cli as projections

app = typer.Typer(help="The event-sourced CRM.", no_args_is_help=True)
app.add_typer(projections, name="projections")


@app.command()
def up() -> None:
    """Run the whole system on this machine (embedded broker and store by default)."""
    from crm_stack.launcher import run

    raise typer.Exit(run())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
