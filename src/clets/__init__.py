"""clets: joins legacy agency systems to a law-enforcement message switch.

Layers (sans-I/O core first): ``clets.model`` (canonical model, field edits),
``clets.codecs`` (wire formats), ``clets.framing`` (byte-stream framers), ``clets.adapters``
(transports), ``clets.switch`` (journal, routing, audit), ``clets.sim`` (simulated back-ends).
"""

__version__ = "0.1.0"
