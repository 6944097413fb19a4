"""The pack contract: every hook a converter pack can implement.

A pack is a module (or object) registered on the ``trtforge.packs`` entry-point
group. It implements some of the hooks below with ``@trtforge.hookimpl``. All
registration hooks take one ``register`` callback, so adding a kind of
contribution never changes the shape of the contract.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("trtforge")
hookimpl = pluggy.HookimplMarker("trtforge")


# -- identity ---------------------------------------------------------------
@hookspec(firstresult=True)
def trtforge_pack_info():
    """Return a :class:`trtforge.PackInfo` describing the pack.

    ``api_version`` is the core API version the pack was written for; the core
    refuses packs whose major version differs from its own, or whose minor
    version is newer than its own.
    """


# -- lowering ---------------------------------------------------------------
@hookspec
def trtforge_register_decompositions(register):
    """Contribute decompositions applied after ``torch.export``.

    Call ``register(op_overload, fn)`` for each; ``fn`` takes the op's
    arguments and returns its result in terms of other ops. A decomposition is
    skipped when some pack has a converter for the op itself.
    """


@hookspec
def trtforge_register_lowering_passes(register):
    """Contribute graph passes run on the lowered ``torch.fx.GraphModule``.

    Call ``register(fn)`` with ``fn(gm: GraphModule, settings) -> GraphModule``.
    Passes run after the core's own passes, in pack order. Edit ``gm.graph`` in
    place (or return a new GraphModule); the core lints and recompiles once after
    the last pass, so a pass need not call ``gm.recompile()`` (it costs ~0.1 s on
    a large model) unless it runs the module itself.
    """


# -- conversion -------------------------------------------------------------
@hookspec
def trtforge_register_converters(register):
    """Contribute converters.

    Call ``register(fn)`` for each function decorated with
    ``@trtforge.converter(op, ...)``. A converter receives
    ``(ctx, target, args, kwargs, name)`` and returns the TensorRT tensor(s)
    standing for the node's output(s).
    """
