"""`python -m bench [GROUP ...]`: see bench/run.py."""

from bench.run import main

main()
