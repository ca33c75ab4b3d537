"""Hook specifications for micrograd plugins: declarations only.

A plugin is a module registered under the ``micrograd.backends`` entry-point group that
implements these hooks with :data:`micrograd.hookimpl`. The built-in numpy backend registers
through the very same hook.
"""

import pluggy

hookspec = pluggy.HookspecMarker("micrograd")
hookimpl = pluggy.HookimplMarker("micrograd")


@hookspec
def micrograd_register_backends(register):
    """Register the backends this plugin provides.

    Called once, lazily, the first time micrograd needs a device (never at ``import micrograd``).
    Keep it cheap: import heavy libraries (the C++ extension, cupy, mlx) inside the factory,
    not here.

    :param register: ``register(name, factory, *, device_type, contract, priority=0,
        xfail_file=None)``. ``name`` is the backend's name (``"cpu"``); ``factory(index)``
        returns a :class:`micrograd.backend.Backend` for device ``device_type:index`` or raises
        :class:`micrograd.backend.BackendUnavailable` with the reason; ``contract`` is the
        ``(major, minor)`` contract version the backend was written for, as a literal;
        ``priority`` orders backends serving the same device type (highest wins);
        ``xfail_file`` is the path of the backend's conformance expected-failure file.
        Call it once per backend.
    :return: nothing.
    """


@hookspec
def micrograd_register_communicators(register):
    """Register the communicators (``micrograd.distributed`` engines) this plugin provides.

    Called once, lazily, together with :func:`micrograd_register_backends` the first time
    micrograd needs a device or a process group. Keep it cheap: import the engine (mpi4py, mlx,
    cupy) inside the factory, not here.

    :param register: ``register(name, factory, *, contract, native_backends=(), priority=0,
        probe=None, launcher=None)``. ``name`` is what ``init_process_group(backend=name)`` takes (``"mpi"``);
        ``factory()`` joins the job this process was launched into and returns a
        :class:`micrograd.communicator.Communicator`, or raises
        :class:`micrograd.communicator.CommunicatorUnavailable` with the reason; ``contract`` is
        the ``(major, minor)`` communicator contract version it was written for, as a literal;
        ``native_backends`` names the backends whose arrays it moves without a copy (others are
        staged through host memory); ``priority`` orders communicators serving the same
        backend (highest wins); ``probe()`` returns ``None`` when the engine is installed and
        usable, else the reason (cheap: it runs for ``micrograd info``);
        ``launcher(nproc_per_node, hostfile, python, argv)`` returns the command line of the
        engine's own launcher that starts ``python argv...`` on every rank (``micrograd
        launch`` uses it). Call it once per communicator.
    :return: nothing.
    """
