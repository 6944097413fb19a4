"""Converters of the vision pack, one module per op family; ``register(converters)`` in
:mod:`trtforge_vision.pack` registers every converter defined here."""
