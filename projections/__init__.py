# The rebuild's hottest modules may be compiled (infra/compiled.py): in a process that asked for
# them, the compiled ones are found first while they match their sources.
from infra.compiled import prefer_compiled

__path__ = prefer_compiled(__name__, __path__)
