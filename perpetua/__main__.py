"""`python -m perpetua`: the same CLI as the `perpetua` script (used for child processes)."""

from perpetua.cli import app

if __name__ == "__main__":
    app(prog_name="perpetua")
