"""Use cases: read the store, call ``models``, hand the results to ``maps``.

Each takes plain, already-checked arguments and returns plain results;
printing and exit codes belong to the command line (``api.cli``).
"""
