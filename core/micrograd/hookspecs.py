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
