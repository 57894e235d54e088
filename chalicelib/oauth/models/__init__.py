"""What the server remembers, as typed models over the state store's small port.

Each model is a frozen dataclass with a ``KIND`` (the state table's item
kind) and the methods of its own transitions; :mod:`.serial` is the one
serialiser between a model and the plain payload an adapter stores.
Endpoints and grants speak models, never payload dicts.
"""
