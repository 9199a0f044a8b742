"""How every `memorag` command ends on an error: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from memorag.errors import MemoRAGError


def fail_cleanly(interrupted: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """MemoRAGError (and bad values or missing files) print `error: ...` and exit 2. With `interrupted`, Ctrl-C
    prints that line and exits 130 (for commands whose finished work survives an interrupt)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (MemoRAGError, FileNotFoundError, ValueError) as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
            except KeyboardInterrupt:
                if interrupted is None:
                    raise
                click.echo(f"\ninterrupted: {interrupted}", err=True)
                sys.exit(130)

        return wrapper

    return decorate
