"""Copybook-driven EBCDIC record codecs (spec/formats.md §4) and generic copybook records.

``parse_copybook(text)`` gives a :class:`Layout` (fields with offsets, a construct Struct, and
generated fast decode/encode); ``CopybookCodec(name, copybook, mapping)`` joins a layout to a
mapping table and the canonical model; ``split_rdw``/``join_rdw`` handle RDW streams.
``Copybook(text)`` / ``load_copybook(path)`` read *any* copybook without a mapping: nested
values out, the same bytes back (tree.py; docs/codecs.md, "Generic records").
"""

from .codec import CopybookCodec
from .layout import Field, Layout, parse_copybook
from .mapping import Mapping, parse_mapping
from .rdw import join_rdw, split_rdw
from .tree import Copybook, RecordLayout, RecordRule, RedefineRule, load_copybook

__all__ = ["Copybook", "CopybookCodec", "Field", "Layout", "Mapping", "RecordLayout",
           "RecordRule", "RedefineRule", "join_rdw", "load_copybook", "parse_copybook",
           "parse_mapping", "split_rdw"]
