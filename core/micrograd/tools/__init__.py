"""The tools built on the library, the top floor of the core: the ``micrograd`` command
(``cli``), ``micrograd demo``, ``micrograd bench`` and ``micrograd new-backend`` (``scaffold``).

Nothing in the library imports them; each subcommand is imported only when it runs.
"""
