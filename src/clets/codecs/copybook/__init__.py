"""Copybook-driven EBCDIC record codecs (spec/formats.md §4).

``parse_copybook(text)`` gives a :class:`Layout` (fields with offsets, a construct Struct, and
generated fast decode/encode); ``CopybookCodec(name, copybook, mapping)`` joins a layout to a
mapping table and the canonical model; ``split_rdw``/``join_rdw`` handle RDW streams.
"""

from .codec import CopybookCodec
from .layout import Field, Layout, parse_copybook
from .mapping import Mapping, parse_mapping
from .rdw import join_rdw, split_rdw

__all__ = ["CopybookCodec", "Field", "Layout", "Mapping", "join_rdw", "parse_copybook",
           "parse_mapping", "split_rdw"]
