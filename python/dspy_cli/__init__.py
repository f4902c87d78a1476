"""dspy-cli-rs: a Rust-powered, drop-in replacement for dspy-cli."""

from dspy_cli._native import __version__

__all__ = ["__version__", "main"]


def main() -> None:
    """Console-script entry point: hand the arguments to the Rust CLI and exit with its code."""
    import sys

    from dspy_cli._native import main as native_main

    try:
        code = native_main(sys.argv)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
